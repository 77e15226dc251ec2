// A stale availability answer is used at once and refreshed after the answer: the client gets its
// redirect while the refresh HEAD is still unanswered, and the read is counted once per request.
import test from 'ava';
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MirrorState } from '../../src/mirrors/mirror-state.js';
import { FakeClock } from '../mirrors/fake-clock.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';

test('a stale answer is served at once and refreshed after the answer, counted once', async (t) => {
  // The mirror answers HEADs; while `held`, it keeps them unanswered until released.
  const heads = new EventEmitter();
  let held: (() => void)[] | undefined;
  const mirror = createServer((req, res) => {
    const answer = () => res.writeHead(200, { 'Content-Length': '3' }).end();
    if (req.method === 'HEAD') heads.emit('head', req.url);
    if (req.method === 'HEAD' && held) held.push(answer);
    else answer();
  }).listen(0, '127.0.0.1');
  await once(mirror, 'listening');
  const base = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
  const clock = new FakeClock(Date.now());
  const state = new MirrorState({ probes: [], clock, cache: { ttls: { immutablePresentMs: 1_000, staleMs: 60_000, verifyMs: 120_000 } } });
  const redirector = await startRedirector(
    writeConfig(`mirrors:
  eu: { url: "${base}" }
  origin: { url: "https://origin.example" }
routes:
  - prefix: /files
    default: eu
    origin: origin
`),
    state,
  );
  t.teardown(async () => {
    for (const answer of held ?? []) answer();
    await redirector.close();
    await state.stop();
    mirror.closeAllConnections();
    mirror.close();
  });
  const get = () => fetch(`${redirector.url}/files/v1/tool`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });

  // Cold: the request waits for its check, then goes to the mirror.
  t.is((await get()).headers.get('location'), `${base}/v1/tool`);
  t.like(state.stats(), { headsSent: 1, misses: 1, hits: 0, staleHits: 0 });

  // Stale: answered from the cache while the refresh HEAD is still unanswered.
  clock.advance(1_500);
  held = [];
  const refreshed = once(heads, 'head');
  const response = await get();
  t.is(response.headers.get('location'), `${base}/v1/tool`);
  t.deepEqual(await refreshed, ['/v1/tool'], 'the refresh was sent');
  t.is(held.length, 1, 'and the client had its answer before the mirror answered it');
  t.like(state.stats(), { headsSent: 2, inflight: 1, misses: 1, hits: 0, staleHits: 1 }, 'one stale read for one request');

  // Refreshed: fresh again, a plain hit, no HEAD.
  const done = held.splice(0);
  held = undefined;
  for (const answer of done) answer();
  // Joins the refresh in flight (one check per object at a time): resolves when it is answered.
  t.like(await state.checkNow({ mirror: 'eu', key: 'file:/files/v1/tool', url: `${base}/v1/tool`, kind: 'binary' }), { state: 'present' });
  t.is((await get()).headers.get('location'), `${base}/v1/tool`);
  t.like(state.stats(), { headsSent: 2, inflight: 0, misses: 1, hits: 1, staleHits: 1 });
});
