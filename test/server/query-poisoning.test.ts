// Cache poisoning by query string, on a real redirector with the real mirror state and real
// mirrors on loopback: availability checks HEAD the object without the client's query (the
// cache key is the object), and no client-supplied text reaches another client's answer.
import test from 'ava';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMirrorState } from '../../src/mirrors/config-to-state.js';
import { compile, writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';

interface Mirror {
  url: string;
  heads: string[];
  server: Server;
}

/** A loopback mirror: `answer(url)` gives the status of each request; HEADs are recorded. */
async function startMirror(answer: (url: string) => number): Promise<Mirror> {
  const heads: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'HEAD') heads.push(req.url ?? '');
    res.writeHead(answer(req.url ?? ''), { 'Content-Length': '0' }).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, heads, server };
}

async function setUp(t: import('ava').ExecutionContext) {
  // GCS answers 404 for an unknown ?generation=: the query names another object.
  const gcs = await startMirror((url) => (url.includes('generation=') ? 404 : 200));
  const broken = await startMirror(() => 503);
  const origin = await startMirror(() => 200);
  const text = `mirrors:
  gcs: { url: "${gcs.url}" }
  broken: { url: "${broken.url}" }
  origin: { url: "${origin.url}" }
routes:
  - prefix: /files
    default: gcs
    origin: origin
  - prefix: /other
    default: [broken, gcs]
    origin: origin
`;
  const file = writeConfig(text);
  const state = createMirrorState(compile(text));
  const redirector = await startRedirector(file, state);
  t.teardown(async () => {
    await redirector.close();
    await state.stop();
    for (const m of [gcs, broken, origin]) {
      m.server.closeAllConnections();
      m.server.close();
    }
  });
  return { gcs, origin, redirector };
}

test('a query on one request does not decide where the next client goes', async (t) => {
  const { gcs, redirector } = await setUp(t);
  const poisoned = await fetch(`${redirector.url}/files/v1/kubelet?generation=1`, { redirect: 'manual' });
  // The client's own redirect keeps its query (the mirror decides what it means)...
  t.is(poisoned.headers.get('location'), `${gcs.url}/v1/kubelet?generation=1`);
  // ...but the availability check asked about the object itself.
  t.deepEqual(gcs.heads, ['/v1/kubelet']);
  const next = await fetch(`${redirector.url}/files/v1/kubelet`, { redirect: 'manual' });
  t.is(next.headers.get('location'), `${gcs.url}/v1/kubelet`);
  t.is(next.headers.get('x-artifact-mirror'), 'gcs');
  t.deepEqual(gcs.heads, ['/v1/kubelet'], 'answered from the cache');
});

test('client-supplied text never reaches other clients: skipped reasons and mirror lists', async (t) => {
  const { redirector } = await setUp(t);
  const evil = 'EVIL<script>alert(1)</script>';
  // Three failed checks open the breaker of `broken`, each on an attacker-chosen path and query.
  for (let i = 0; i < 3; i++) {
    await fetch(`${redirector.url}/other/${encodeURIComponent(`${evil}${i}`).replace(/%/g, '')}x${i}?q=${encodeURIComponent(evil)}`, { redirect: 'manual' });
  }
  const clean = await fetch(`${redirector.url}/other/v1/tool`, { redirect: 'manual', headers: { 'X-Artifact-Debug': '1' } });
  t.is(clean.headers.get('x-artifact-mirror'), 'gcs');
  const skipped = clean.headers.get('x-artifact-skipped') ?? '';
  t.regex(skipped, /broken \(down: breaker open after 3 failed availability checks \(last: HEAD: HTTP 503\)\)/);
  t.notRegex(skipped, /EVIL|script|x\d|q=/);
  const list = await (await fetch(`${redirector.url}/other/v1/tool?mirrorlist`)).text();
  t.notRegex(list, /EVIL|script|q=/);
  t.regex(list, /breaker open/);
});
