// Where the redirector's CPU per request goes, against raw node:http's fixed 302 under the same
// wrk load: each server is sampled with Linux perf (kernel, native and JIT-compiled JavaScript
// frames, all threads), and every frame's inclusive CPU is printed in µs per request, ours beside
// raw's. The difference column is what each part of our path costs over the wire, the figure a
// change must move (in-process figures from bench/decide.ts run at about half of it).
//
//   npm run build && npx tsx bench/profile.ts [--paths binary|blob] [--clients N|new] [--seconds S] [--top N] [--native]
//
// Needs `perf` (Debian's linux-perf) and permission to sample another process (root, or
// kernel.perf_event_paranoid <= 1). Samples are CPU-clock ticks, so it works in VMs without
// hardware counters.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_PATHS, benchConfig, clientsOption, ROOT, startMirrorStub } from './bench-configs.js';
import { inclusiveSamples, isJavaScript, parsePerfScript } from './perf-stacks.js';
import { startRaw302, startRedirector, stopProcess } from './processes.js';
import { runWrk } from './wrk.js';

const FREQUENCY = 1999;
const WARM_UP_SECONDS = 3;

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: 'binary' },
    clients: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '5' },
    top: { type: 'string', default: '40' },
    // Native and kernel frames too (node's C++, libuv, V8 builtins, the TCP stack), not only JavaScript.
    native: { type: 'boolean', default: false },
  },
});
if (!(values.paths in BENCH_PATHS)) {
  console.error('usage: bench/profile.ts [--paths binary|blob] [--clients N|new] [--seconds S] [--top N] [--native]');
  process.exit(2);
}
if (!existsSync(join(ROOT, 'dist/cli.js'))) {
  console.error('bench/profile.ts profiles the built server: run `npm run build` first');
  process.exit(2);
}
const seconds = Number(values.seconds);
const paths = BENCH_PATHS[values.paths as keyof typeof BENCH_PATHS];
const clients = clientsOption(values.clients);
const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-profile-'));
const stub = await startMirrorStub();
// Node writes /tmp/perf-PID.map, naming its JIT-compiled functions for perf.
const perfMap = '--perf-basic-prof-only-functions';
const servers = {
  raw: () => startRaw302([perfMap]),
  ours: () => startRedirector(benchConfig(stub.port), join(dir, 'access.log'), [perfMap]),
};

/** Samples the server under load: its stacks, and the requests it answered meanwhile. */
async function profile(name: keyof typeof servers): Promise<{ perRequest: Map<string, number>; total: number; rps: number }> {
  const server = await servers[name]();
  const pid = server.child.pid!;
  const data = join(dir, `${name}.perf.data`);
  try {
    // Long enough for V8 to finish optimising the hot path: after 1 s its compiler thread still
    // showed in the samples (0.75 µs per request).
    await runWrk({ port: server.port, paths, clients, connections: 50, durationSeconds: WARM_UP_SECONDS });
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-g', '-o', data, '-p', String(pid), '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let perfErrors = '';
    perf.stderr.on('data', (chunk: Buffer) => (perfErrors += chunk.toString()));
    const started = once(perf, 'spawn');
    const exited = once(perf, 'exit');
    perf.once('error', (error) => console.error(`perf could not start (apt-get install linux-perf): ${error.message}`));
    await started;
    const load = await runWrk({ port: server.port, paths, clients, connections: 50, durationSeconds: seconds });
    const [code] = (await exited) as [number | null];
    if (code !== 0) throw new Error(`perf record exited with ${code}: ${perfErrors.trim()}`);
    if (load.errors > 0) throw new Error(`${load.errors} errors from ${name}`);
    const script = spawn('perf', ['script', '-i', data], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    script.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await once(script, 'exit');
    const stacks = parsePerfScript(text);
    const requests = load.rps * seconds;
    const usPerSample = 1_000_000 / FREQUENCY;
    const perRequest = new Map([...inclusiveSamples(stacks)].map(([frame, samples]) => [frame, (samples * usPerSample) / requests]));
    return { perRequest, total: (stacks.length * usPerSample) / requests, rps: load.rps };
  } finally {
    await stopProcess(server.child);
    rmSync(`/tmp/perf-${pid}.map`, { force: true });
  }
}

try {
  const raw = await profile('raw');
  const ours = await profile('ours');
  console.log(`${values.paths} route, clients ${values.clients}, ${seconds} s each, perf at ${FREQUENCY} Hz (all threads, kernel included)`);
  console.log(`raw node:http fixed 302: ${raw.rps.toFixed(0)} req/s, ${raw.total.toFixed(1)} µs CPU per request`);
  console.log(`redirector:              ${ours.rps.toFixed(0)} req/s, ${ours.total.toFixed(1)} µs CPU per request (${(ours.total - raw.total).toFixed(1)} more)`);
  const kind = values.native ? 'frames' : 'JavaScript functions (--native for all frames)';
  console.log(`\ninclusive CPU per request, µs: ours, raw, ours - raw; ${kind} on the stack of at least 1% of our samples`);
  const shown = ([frame, us]: [string, number]) => us >= ours.total / 100 && (values.native || isJavaScript(frame));
  const rows = [...ours.perRequest].filter(shown).sort((a, b) => b[1] - a[1]);
  for (const [frame, us] of rows.slice(0, Number(values.top))) {
    const base = raw.perRequest.get(frame) ?? 0;
    console.log(`${us.toFixed(2).padStart(8)} ${base.toFixed(2).padStart(8)} ${(us - base).toFixed(2).padStart(8)}  ${frame}`);
  }
} finally {
  stub.close();
  rmSync(dir, { recursive: true, force: true });
}
