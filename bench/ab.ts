// An A/B comparison of two server commands under the same wrk load: many short rounds, each
// running both servers seconds apart in alternating order, and the median of the per-round
// ratios of CPU per request (from /proc) and of requests/s. On a shared VM whose speed drifts by
// tens of percent between runs, only such pairs tell a change of a few µs per request from noise.
//
//   npx tsx bench/ab.ts --a 'node bench/raw.js' --b 'node dist/cli.js serve --config @CONFIG@ ...'
//
// A command prints `listening PORT` or `listening on http://HOST:PORT` when ready; @CONFIG@ is
// replaced by the redirect bench's config (bench/bench-configs.ts), with its mirror stub running.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median } from '../src/util/median.js';
import { BENCH_PATHS, benchConfig, clientsOption, startMirrorStub } from './bench-configs.js';
import { cpuMicroseconds, startProcess, stopProcess } from './processes.js';
import { runWrk } from './wrk.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    rounds: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    paths: { type: 'string', default: 'binary' },
    // A number of client addresses cycled in X-Forwarded-For, or `new`: every request a new client.
    clients: { type: 'string', default: '2000' },
  },
});
if (!values.a || !values.b || !(values.paths in BENCH_PATHS)) {
  console.error("usage: bench/ab.ts --a 'COMMAND' --b 'COMMAND' [--rounds N] [--seconds S] [--connections N] [--paths binary|blob] [--clients N|new]");
  process.exit(2);
}
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const stub = await startMirrorStub();
const config = benchConfig(stub.port);
const clients = clientsOption(values.clients);
const paths = BENCH_PATHS[values.paths as keyof typeof BENCH_PATHS];
const ready = /listening (?:on https?:\/\/\S+:)?(\d+)/;

const start = (command: string) => {
  const [program, ...args] = command.replaceAll('@CONFIG@', config).split(/\s+/).filter(Boolean);
  return startProcess(program === 'node' ? process.execPath : program!, args, ready);
};
const servers = { a: await start(values.a), b: await start(values.b) };
/** One run of `seconds` against a server: requests/s and its CPU µs per request. */
const measure = async (server: { child: { pid?: number | undefined }; port: number }, durationSeconds = seconds) => {
  const before = cpuMicroseconds(server.child.pid!);
  const result = await runWrk({ port: server.port, paths, clients, connections: Number(values.connections), durationSeconds });
  if (result.errors > 0) throw new Error(`${result.errors} errors from the server on port ${server.port}`);
  return { rps: result.rps, us: (cpuMicroseconds(server.child.pid!) - before) / (result.rps * durationSeconds) };
};
try {
  await measure(servers.a, 1);
  await measure(servers.b, 1);
  const cpuRatios: number[] = [];
  const rpsRatios: number[] = [];
  console.log(`A: ${values.a}\nB: ${values.b}\n${rounds} rounds of ${seconds} s each, ${values.connections} connections, ${values.paths} paths, clients ${values.clients}, load average ${loadAverage()}`);
  console.log('round   A req/s  A µs/req   B req/s  B µs/req   B/A µs  B/A req/s');
  for (let round = 0; round < rounds; round++) {
    // Alternating order: neither side always runs first, after the other's warm caches or burst.
    const [a, b] = round % 2 === 0 ? [await measure(servers.a), await measure(servers.b)] : [await measure(servers.b), await measure(servers.a)].reverse();
    cpuRatios.push(b!.us / a!.us);
    rpsRatios.push(b!.rps / a!.rps);
    console.log(
      `${String(round + 1).padStart(5)} ${a!.rps.toFixed(0).padStart(9)} ${a!.us.toFixed(1).padStart(9)} ${b!.rps.toFixed(0).padStart(9)} ${b!.us.toFixed(1).padStart(9)} ${cpuRatios.at(-1)!.toFixed(3).padStart(8)} ${rpsRatios.at(-1)!.toFixed(3).padStart(10)}`,
    );
  }
  console.log(`median B/A: CPU per request ${median(cpuRatios)!.toFixed(3)}, req/s ${median(rpsRatios)!.toFixed(3)} (load average ${loadAverage()})`);
} finally {
  await stopProcess(servers.a.child);
  await stopProcess(servers.b.child);
  stub.close();
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
