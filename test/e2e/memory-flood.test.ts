// Memory under a distinct-object flood: 200,000 requests for objects never asked for before,
// from many client addresses, against a real `serve` process with the default availability
// cache and the heap limit the deployment sets (deploy/kubernetes: NODE_OPTIONS
// --max-old-space-size=256 in a 384 MiB pod). Every request makes an availability check (a HEAD
// to a loopback mirror); the resident set must stay inside the pod's limit.
// The flood runs in serial chunks so that each finishes well inside AVA's inactivity timeout on
// a loaded machine.
import test from 'ava';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeConfig } from '../helpers/config.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';

const OBJECTS = 200_000;
const CHUNKS = 8;
const CONCURRENCY = 64;
const POD_LIMIT_MIB = 384;
/** What deploy/kubernetes/base/deployment.yaml gives node. */
const HEAP_FLAG = '--max-old-space-size=256';

let mirror: Server;
let server: RedirectorProcess;
let agent: Agent;
let baseline = 0;
let peak = 0;
let redirects = 0;
let sampler: NodeJS.Timeout;
const started = performance.now();

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

test.before(async () => {
  // The mirror holds everything (HEAD 200 with a size); the origin is on the same server.
  mirror = createServer((_req, res) => res.writeHead(200, { 'Content-Length': '1048576' }).end()).listen(0, '127.0.0.1');
  await once(mirror, 'listening');
  const base = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
  const config = writeConfig(`trustedProxies: [127.0.0.1/32]
mirrors:
  eu: { url: "${base}/eu" }
  us: { url: "${base}/us" }
  origin: { url: "${base}/origin" }
routes:
  - prefix: /v1
    regions: { Europe: eu }
    default: us
    origin: origin
`);
  server = await startRedirectorProcess(config, [], [HEAP_FLAG]);
  agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  baseline = rssMiB(server.child.pid!);
  peak = baseline;
  sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.child.pid!))), 200);
});

test.after.always(async () => {
  clearInterval(sampler);
  agent?.destroy();
  await server?.stop();
  mirror?.closeAllConnections();
  mirror?.close();
});

test.serial('the deployment sets the heap limit this test runs with', (t) => {
  const deployment = readFileSync(new URL('../../deploy/kubernetes/base/deployment.yaml', import.meta.url), 'utf8');
  t.true(deployment.includes(HEAP_FLAG), `the deployment sets ${HEAP_FLAG}`);
  t.true(deployment.includes(`memory: ${POD_LIMIT_MIB}Mi`));
});

async function flood(from: number, to: number): Promise<void> {
  const port = Number(new URL(server.url).port);
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      // Client addresses spread over many networks; every object is new.
      const ip = `${(i % 200) + 20}.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`;
      const status = await new Promise<number>((resolve, reject) => {
        request({ agent, port, host: '127.0.0.1', path: `/v1/release-${i}/kubernetes-server-linux-amd64.tar.gz`, headers: { 'X-Forwarded-For': ip } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
          .on('error', reject)
          .end();
      });
      if (status === 302) redirects++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

for (let chunk = 0; chunk < CHUNKS; chunk++) {
  const from = (chunk * OBJECTS) / CHUNKS;
  const to = ((chunk + 1) * OBJECTS) / CHUNKS;
  test.serial(`flood: distinct objects ${from}-${to - 1}`, async (t) => {
    await flood(from, to);
    peak = Math.max(peak, rssMiB(server.child.pid!));
    t.is(redirects, to);
    t.true(peak < POD_LIMIT_MIB, `peak RSS ${peak.toFixed(0)} MiB`);
  });
}

test.serial('after 200,000 distinct objects the resident set stayed inside the pod, the cache at its bound', async (t) => {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  const entries = gauge('artifact_availability_cache_entries');
  const bytes = gauge('artifact_availability_cache_bytes');
  const seconds = (performance.now() - started) / 1000;
  t.log(`${OBJECTS} objects in ${seconds.toFixed(0)} s; RSS ${baseline.toFixed(0)} MiB at start, peak ${peak.toFixed(0)} MiB; cache ${entries} entries, ${(bytes / 2 ** 20).toFixed(1)} MiB counted`);
  t.true(bytes <= 32 * 2 ** 20, 'the cache is held to its default 32 MiB');
  t.true(entries > 10_000);
  // Room to spare under the limit: the pod is not one allocation away from being killed.
  t.true(peak < POD_LIMIT_MIB - 32, `peak RSS ${peak.toFixed(0)} MiB, limit ${POD_LIMIT_MIB} MiB`);
});
