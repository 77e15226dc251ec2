import test from 'ava';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AvailabilityCache, type CheckEvent } from '../../src/mirrors/availability-cache.js';
import type { FetchLike } from '../../src/net/http.js';
import { FakeClock } from './fake-clock.js';

/** A fetch answering `status` (with headers) per URL path; counts calls; can hold answers back. */
function fakeFetch(answer: (url: string) => { status: number; headers?: Record<string, string> }) {
  let heads = 0;
  let gate: Promise<void> | undefined;
  const fetchFn: FetchLike = async (url) => {
    heads++;
    if (gate) await gate;
    const { status, headers = {} } = answer(url);
    return { status, headers: new Headers(headers) };
  };
  return {
    fetchFn,
    get heads() {
      return heads;
    },
    /** Holds every answer until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

test('statuses: 2xx present with length, 404/410 absent, 5xx/429 error blaming the mirror, other 4xx error only', async (t) => {
  const statusOf = (url: string) => Number(new URL(url).pathname.slice(1).split('/')[0]);
  const headersFor: Record<number, Record<string, string>> = { 200: { 'content-length': '1234' }, 307: { location: 'http://s3/x' } };
  const fake = fakeFetch((url) => ({ status: statusOf(url), headers: headersFor[statusOf(url)] ?? {} }));
  const events: CheckEvent[] = [];
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock: new FakeClock(), onCheck: (e) => events.push(e) });
  const check = (status: number, kind: 'blob' | 'binary' = 'blob') => cache.check('m', `${status}-${kind}`, `http://m.test/${status}/x`, { kind });

  t.like(await check(200), { state: 'present', contentLength: 1234 });
  t.like(await check(404), { state: 'absent', status: 404 });
  t.like(await check(410), { state: 'absent', status: 410 });
  t.like(await check(500), { state: 'error', reason: 'HEAD: HTTP 500' });
  t.like(await check(307), { state: 'present' }, 'a registry redirects a blob HEAD to storage only when it has it');
  t.like(await check(307, 'binary'), { state: 'error' }, 'a redirect is no evidence for a binary');
  t.like(await check(403), { state: 'error' });
  t.like(await check(429), { state: 'error' });
  t.deepEqual(
    events.map((e) => [e.key, e.mirrorFailed]),
    [
      ['200-blob', false],
      ['404-blob', false],
      ['410-blob', false],
      ['500-blob', true],
      ['307-blob', false],
      ['307-binary', false],
      ['403-blob', false],
      ['429-blob', true],
    ],
  );
  t.like(cache.peek('m', '404-blob'), { state: 'absent' }, 'answers are cached');
});

test('TTLs per kind, from the injected clock', async (t) => {
  const clock = new FakeClock();
  const present = new Set(['blob', 'digest', 'tag', 'binary']);
  const fake = fakeFetch((url) => ({ status: present.has(new URL(url).pathname.slice(1)) ? 200 : new URL(url).pathname === '/down' ? 503 : 404 }));
  // A day, with a verify bound as long (the default bound is 60 s: see the tests below).
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock, ttls: { immutablePresentMs: 24 * 3600_000, verifyMs: 24 * 3600_000 } });
  await cache.check('m', 'blob', 'http://m.test/blob', { kind: 'blob' });
  await cache.check('m', 'binary', 'http://m.test/binary', { kind: 'binary' });
  await cache.check('m', 'digest', 'http://m.test/digest', { kind: 'manifest-digest' });
  await cache.check('m', 'tag', 'http://m.test/tag', { kind: 'manifest-tag' });
  await cache.check('m', 'missing', 'http://m.test/missing', { kind: 'blob' });
  await cache.check('m', 'down', 'http://m.test/down', { kind: 'blob' });
  const fresh = () => ['blob', 'binary', 'digest', 'tag', 'missing', 'down'].filter((key) => cache.isFresh('m', key));

  t.deepEqual(fresh(), ['blob', 'binary', 'digest', 'tag', 'missing', 'down']);
  clock.advance(4_999);
  t.deepEqual(fresh(), ['blob', 'binary', 'digest', 'tag', 'missing', 'down']);
  clock.advance(1);
  t.deepEqual(fresh(), ['blob', 'binary', 'digest', 'tag', 'missing'], 'errors: 5 s');
  clock.advance(10_000);
  t.deepEqual(fresh(), ['blob', 'binary', 'digest', 'missing'], 'a tag is trusted as present for 15 s only');
  t.is(cache.peek('m', 'tag'), undefined, 'and an expired tag is never served stale');
  clock.advance(15_000);
  t.deepEqual(fresh(), ['blob', 'binary', 'digest'], 'not found: 30 s');
  clock.advance(24 * 3600_000 - 30_001);
  t.deepEqual(fresh(), ['blob', 'binary', 'digest']);
  clock.advance(1);
  t.deepEqual(fresh(), [], 'content-addressed present: 24 h');
  t.is(fake.heads, 6);
});

test('a stale entry is served, read-only, while one refresh runs', async (t) => {
  const clock = new FakeClock();
  let status = 200;
  const fake = fakeFetch(() => ({ status }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock, ttls: { absentMs: 1_000, immutablePresentMs: 1_000, staleMs: 60_000 } });
  await cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' });
  t.false(cache.isStale('m', 'k'));
  clock.advance(1_000);
  status = 404;
  const release = fake.hold();
  t.like(cache.peek('m', 'k'), { state: 'present' }, 'stale value served');
  t.like(cache.peek('m', 'k'), { state: 'present' });
  t.true(cache.isStale('m', 'k'));
  t.is(fake.heads, 1, 'peek starts no refresh (the server does, after answering)');
  t.like(cache.stats(), { hits: 0, staleHits: 0, misses: 0, inflight: 0 }, 'nor counts anything');
  // Two requests' refreshes: one HEAD.
  const refreshes = [cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' }), cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' })];
  t.is(fake.heads, 2);
  t.like(cache.stats(), { inflight: 1 });
  release();
  for (const refreshed of await Promise.all(refreshes)) t.like(refreshed, { state: 'absent' });
  t.like(cache.peek('m', 'k'), { state: 'absent' });
  clock.advance(1_000 + 60_000);
  t.is(cache.peek('m', 'k'), undefined, 'past the stale window the entry is not served');
  t.false(cache.has('m', 'k'));
  cache.countReads({ hits: 1, staleHits: 2, misses: 3 });
  t.like(cache.stats(), { hits: 1, staleHits: 2, misses: 3 });
});

test('by default a present answer is fresh 30 s, served while refreshed until 60 s, never after', async (t) => {
  const clock = new FakeClock();
  let status = 200;
  const fake = fakeFetch(() => ({ status }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock });
  for (const kind of ['blob', 'binary', 'manifest-digest'] as const) await cache.check('m', kind, `http://m.test/${kind}`, { kind });
  clock.advance(29_999);
  t.true(cache.isFresh('m', 'blob'));
  t.is(fake.heads, 3);
  clock.advance(1);
  t.false(cache.isFresh('m', 'blob'), 'fresh for half the verify bound');
  // The mirror lost everything; nobody has asked since the answers went stale.
  status = 404;
  clock.advance(30_000);
  for (const kind of ['blob', 'binary', 'manifest-digest']) t.is(cache.peek('m', kind), undefined, `${kind}: a 60 s old "present" is never used`);
  t.is(fake.heads, 3, 'not refreshed in the background either: the request path re-checks it first (bounded wait)');
});

test('a hot object is refreshed within the verify bound: the lost object is known absent before the bound', async (t) => {
  const clock = new FakeClock();
  let status = 200;
  const fake = fakeFetch(() => ({ status }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock, ttls: { verifyMs: 10_000, immutablePresentMs: 5_000, staleMs: 600_000 } });
  await cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' });
  status = 404;
  clock.advance(6_000);
  t.like(cache.peek('m', 'k'), { state: 'present' }, 'stale within the bound: used while refreshed');
  await cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' }); // joins the refresh
  t.like(cache.peek('m', 'k'), { state: 'absent' });
});

test('presentSeconds and staleSeconds longer than the verify bound are cut to it; tags too', async (t) => {
  const clock = new FakeClock();
  const fake = fakeFetch(() => ({ status: 200 }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock, ttls: { verifyMs: 2_000, immutablePresentMs: 86_400_000, tagPresentMs: 15_000, staleMs: 600_000 } });
  await cache.check('m', 'blob', 'http://m.test/blob', { kind: 'blob' });
  await cache.check('m', 'tag', 'http://m.test/tag', { kind: 'manifest-tag' });
  clock.advance(1_999);
  t.like(cache.peek('m', 'blob'), { state: 'present' });
  t.like(cache.peek('m', 'tag'), { state: 'present' });
  clock.advance(1);
  t.is(cache.peek('m', 'blob'), undefined);
  t.is(cache.peek('m', 'tag'), undefined);
});

test('the bound counts from when the HEAD was sent, not from its answer', async (t) => {
  const clock = new FakeClock();
  const fake = fakeFetch(() => ({ status: 200 }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock, ttls: { verifyMs: 10_000, immutablePresentMs: 10_000 } });
  const release = fake.hold();
  const checking = cache.check('m', 'k', 'http://m.test/k', { kind: 'blob', timeoutMs: 60_000 });
  clock.advance(4_000);
  release();
  await checking;
  clock.advance(5_999);
  t.like(cache.peek('m', 'k'), { state: 'present' });
  clock.advance(1);
  t.is(cache.peek('m', 'k'), undefined);
});

test('purge drops everything, a mirror, an object on one mirror or on all', async (t) => {
  const fake = fakeFetch(() => ({ status: 200 }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock: new FakeClock() });
  const fill = async () => {
    for (const mirror of ['a', 'b']) for (const key of ['x', 'y']) await cache.check(mirror, key, `http://${mirror}.test/${key}`, { kind: 'blob' });
  };
  const known = () => ['a', 'b'].flatMap((mirror) => ['x', 'y'].filter((key) => cache.has(mirror, key)).map((key) => `${mirror}/${key}`));
  await fill();
  t.is(cache.purge({ mirror: 'a', key: 'x' }), 1);
  t.deepEqual(known(), ['a/y', 'b/x', 'b/y']);
  t.is(cache.purge({ key: 'y' }), 2);
  t.deepEqual(known(), ['b/x']);
  await fill();
  t.is(cache.purge({ mirror: 'b' }), 2);
  t.deepEqual(known(), ['a/x', 'a/y']);
  t.is(cache.purge({ mirror: 'a' }), 2);
  await fill();
  t.is(cache.purge(), 4);
  t.deepEqual(known(), []);
  t.is(cache.purge({ mirror: 'nobody' }), 0);
});

test('a check sent before a purge does not cache its answer; the next request asks again', async (t) => {
  const fake = fakeFetch(() => ({ status: 200 }));
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock: new FakeClock() });
  const release = fake.hold();
  const before = cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' });
  cache.purge({ mirror: 'm' });
  const after = cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' });
  t.not(after, before, 'a new check, not the one from before the purge');
  t.is(fake.heads, 2);
  release();
  await Promise.all([before, after]);
  t.like(cache.peek('m', 'k'), { state: 'present' }, 'the check sent after the purge is cached');
  // A purge of another mirror or object leaves checks in flight alone.
  const hold = fake.hold();
  const other = cache.check('n', 'k', 'http://n.test/k', { kind: 'blob' });
  cache.purge({ mirror: 'm' });
  cache.purge({ mirror: 'n', key: 'other' });
  hold();
  await other;
  t.like(cache.peek('n', 'k'), { state: 'present' });
  t.like(cache.stats(), { inflight: 0 });
  await cache.close();
});

test('a flood of 10k distinct keys stays within the entry and size bounds', async (t) => {
  const fake = fakeFetch(() => ({ status: 200, headers: { 'content-length': '1' } }));
  const maxSizeBytes = 64 * 1024;
  const cache = new AvailabilityCache({ fetch: fake.fetchFn, clock: new FakeClock(), maxEntries: 1_000, maxSizeBytes });
  for (let batch = 0; batch < 10; batch++) {
    const checks = [];
    for (let i = 0; i < 1_000; i++) {
      const digest = `sha256:${(batch * 1_000 + i).toString(16).padStart(64, '0')}`;
      checks.push(cache.check('m', digest, `http://m.test/v2/library/x/blobs/${digest}`, { kind: 'blob' }));
    }
    await Promise.all(checks);
    const { entries, sizeBytes } = cache.stats();
    t.true(entries <= 1_000, `entries ${entries}`);
    t.true(sizeBytes <= maxSizeBytes, `size ${sizeBytes}`);
  }
  t.is(fake.heads, 10_000);
  t.true(cache.stats().entries > 0);
  // Small entries but a tight byte bound: the size bound is the one that binds.
  t.true(cache.stats().entries < 1_000);
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

test('real HTTP: a burst of 50 identical concurrent checks sends exactly one HEAD', async (t) => {
  let heads = 0;
  let answer: () => void = () => {};
  const arrived = new Promise<void>((resolve) => {
    answer = resolve;
  });
  const held: ServerResponse[] = [];
  const { base, server } = await listen((req, res) => {
    if (req.method === 'HEAD') heads++;
    res.setHeader('content-length', '4096');
    held.push(res);
    answer();
  });
  t.teardown(() => closeServer(server));
  const cache = new AvailabilityCache();
  const url = `${base}/v2/x/blobs/sha256:abc`;
  const burst = Array.from({ length: 50 }, () => cache.check('m', 'sha256:abc', url, { kind: 'blob' }));
  await arrived; // the server holds the answer until the whole burst has been issued
  for (const res of held) res.end();
  const results = await Promise.all(burst);
  t.is(heads, 1);
  t.true(results.every((r) => r.state === 'present' && r.contentLength === 4096));
  t.is(cache.stats().headsSent, 1);
});

test('real HTTP: 404 absent, 500 error, a server that never answers is an error at the timeout', async (t) => {
  const { base, server } = await listen((req, res) => {
    if (req.url === '/hang') return; // never answers
    res.statusCode = req.url === '/missing' ? 404 : 500;
    res.end();
  });
  t.teardown(() => closeServer(server));
  const events: CheckEvent[] = [];
  const cache = new AvailabilityCache({ onCheck: (e) => events.push(e) });
  t.like(await cache.check('m', 'a', `${base}/missing`, { kind: 'binary' }), { state: 'absent', status: 404 });
  t.like(await cache.check('m', 'b', `${base}/broken`, { kind: 'binary' }), { state: 'error', reason: 'HEAD: HTTP 500' });
  const hung = await cache.check('m', 'c', `${base}/hang`, { kind: 'binary', timeoutMs: 150 });
  t.like(hung, { state: 'error' });
  t.regex(hung.state === 'error' ? hung.reason : '', /timeout after 150 ms/);
  t.deepEqual(
    events.map((e) => e.mirrorFailed),
    [false, true, true],
  );
});

test('close aborts checks in flight without caching them', async (t) => {
  const fake = fakeFetch(() => ({ status: 200 }));
  const hang: FetchLike = (_url, init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
  const events: CheckEvent[] = [];
  const cache = new AvailabilityCache({ fetch: hang, clock: new FakeClock(), onCheck: (e) => events.push(e) });
  const pending = cache.check('m', 'k', 'http://m.test/k', { kind: 'blob' });
  await cache.close();
  t.like(await pending, { state: 'error' });
  t.is(cache.peek('m', 'k'), undefined);
  t.deepEqual(events, [], 'the mirror is not blamed for our shutdown');
  t.is(fake.heads, 0);
});

// The byte bound is honest: what the cache counts is at least the heap its entries really take
// (counted 486 bytes for 652 real before), so maxMegabytes bounds memory.
test.serial('the counted size of an entry is at least its real heap size', async (t) => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { fetchFn } = fakeFetch(() => ({ status: 200, headers: { 'content-length': '12345' } }));
  const cache = new AvailabilityCache({ fetch: fetchFn, maxEntries: 1_000_000, maxSizeBytes: 1e12 });
  const n = 30_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < i + 1000; j++) {
      const digest = `sha256:${j.toString(16).padStart(64, '0')}`;
      batch.push(
        cache.check('ar-europe-west1', `blob:kubernetes/kube-apiserver@${digest}`, `https://europe-west1-docker.pkg.dev/v2/k8s-artifacts-prod/images/kubernetes/kube-apiserver/blobs/${digest}`, { kind: 'blob' }),
      );
    }
    await Promise.all(batch);
  }
  gc();
  const real = (process.memoryUsage().heapUsed - before) / n;
  const counted = cache.stats().sizeBytes / n;
  t.log(`real ${real.toFixed(0)} B, counted ${counted.toFixed(0)} B per entry`);
  t.is(cache.stats().entries, n);
  t.true(counted >= real * 0.95, `counted ${counted.toFixed(0)} B per entry, real ${real.toFixed(0)} B`);
});
