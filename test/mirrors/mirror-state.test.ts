import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProbeTarget } from '../../src/mirrors/health-prober.js';
import { MirrorState, type MirrorStateChange } from '../../src/mirrors/mirror-state.js';
import type { AvailabilityCheck } from '../../src/mirrors/state-view.js';
import type { FetchLike } from '../../src/net/http.js';
import { FakeClock } from './fake-clock.js';

const probe = (name: string, extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  name,
  probeUrl: `http://${name}.test/v2/`,
  intervalMs: 10_000,
  timeoutMs: 1_000,
  rise: 2,
  fall: 3,
  ...extra,
});

const blob = (mirror: string, n: number): AvailabilityCheck => ({
  mirror,
  key: `x@sha256:${n}`,
  url: `http://${mirror}.test/v2/x/blobs/sha256:${n}`,
  kind: 'blob',
});

/** Probes (GET) and checks (HEAD) answered per method; 'hang' never answers until aborted. */
function fakeMirror() {
  const answers = { GET: 200 as number | 'hang', HEAD: 200 as number | 'hang' };
  const calls = { GET: 0, HEAD: 0 };
  const fetchFn: FetchLike = (_url, init) => {
    calls[init.method]++;
    const answer = answers[init.method];
    if (answer === 'hang') return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    return Promise.resolve({ status: answer, headers: new Headers() });
  };
  return { fetchFn, answers, calls };
}

test('failed checks trip the breaker; only rise probes bring the mirror back', async (t) => {
  const clock = new FakeClock();
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [probe('a')], clock, fetch: mirror.fetchFn, breakerThreshold: 3 });
  const changes: MirrorStateChange[] = [];
  state.onChange((change) => changes.push(change));

  mirror.answers.HEAD = 503;
  await state.checkNow({ mirror: 'a', key: 'k1', url: 'http://a.test/k1', kind: 'blob' });
  await state.checkNow({ mirror: 'a', key: 'k2', url: 'http://a.test/k2', kind: 'blob' });
  t.true(state.health('a').up, 'two failures: not yet');
  await state.checkNow({ mirror: 'a', key: 'k3', url: 'http://a.test/k3', kind: 'blob' });
  const down = state.health('a');
  t.false(down.up);
  t.regex(down.reason ?? '', /breaker open after 3 failed availability checks \(last: HEAD: HTTP 503\)/);
  t.deepEqual(
    changes.map((c) => [c.up, c.source]),
    [[false, 'breaker']],
  );
  t.is(state.stats().openBreakers, 1);

  mirror.answers.HEAD = 200;
  await state.checkNow({ mirror: 'a', key: 'k4', url: 'http://a.test/k4', kind: 'blob' });
  clock.advance(3_600_000);
  t.false(state.health('a').up, 'neither a good check nor time closes a probed mirror breaker');
  await state.probeNow();
  t.false(state.health('a').up, 'one probe is below rise');
  await state.probeNow();
  t.true(state.health('a').up);
  t.is(state.health('a').reason, undefined);
  t.deepEqual(
    changes.map((c) => [c.up, c.source]),
    [
      [false, 'breaker'],
      [true, 'probe'],
    ],
  );
  t.is(state.stats().openBreakers, 0);
});

test('404s and other answers from a working mirror never trip the breaker', async (t) => {
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [probe('a')], clock: new FakeClock(), fetch: mirror.fetchFn, breakerThreshold: 2 });
  mirror.answers.HEAD = 404;
  for (let i = 0; i < 5; i++) await state.checkNow({ mirror: 'a', key: `k${i}`, url: `http://a.test/k${i}`, kind: 'blob' });
  mirror.answers.HEAD = 403;
  for (let i = 5; i < 10; i++) await state.checkNow({ mirror: 'a', key: `k${i}`, url: `http://a.test/k${i}`, kind: 'blob' });
  t.true(state.health('a').up);
});

test('a probe-down mirror is down with the probe reason', async (t) => {
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [probe('a', { fall: 1 })], clock: new FakeClock(), fetch: mirror.fetchFn });
  mirror.answers.GET = 500;
  await state.probeNow();
  t.like(state.health('a'), { up: false, reason: 'probe http://a.test/v2/: HTTP 500' });
  t.true(state.health('unprobed').up);
});

test('an unprobed mirror breaker half-opens after its cooldown', async (t) => {
  const clock = new FakeClock();
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [], clock, fetch: mirror.fetchFn, breakerThreshold: 1, unprobedCooldownMs: 30_000 });
  const changes: MirrorStateChange[] = [];
  state.onChange((change) => changes.push(change));
  mirror.answers.HEAD = 502;
  await state.checkNow({ mirror: 'b', key: 'k', url: 'http://b.test/k', kind: 'binary' });
  t.false(state.health('b').up);
  t.deepEqual(
    changes.map((c) => [c.name, c.up, c.source]),
    [['b', false, 'breaker']],
  );
  mirror.answers.HEAD = 200;
  clock.advance(30_000);
  const { trial } = state.health('b');
  t.like(trial, { mirror: 'b', key: 'k' }, 'a trial is due: the check that failed');
  await new Promise((resolve) => setImmediate(resolve));
  t.false(state.health('b').up, 'reading health starts nothing');
  state.refresh([trial!]); // what the server does after answering
  await new Promise((resolve) => setImmediate(resolve));
  t.true(state.health('b').up);
  t.deepEqual(
    changes.map((c) => [c.name, c.up, c.source]),
    [
      ['b', false, 'breaker'],
      ['b', true, 'breaker'],
    ],
  );
});

// Half-open used to let all traffic through at once: every request for an uncached object sent
// the mirror a HEAD and waited on it. Now one trial check runs in the background and requests
// keep skipping the mirror until it passes.
test('half-open: exactly one trial HEAD while requests keep skipping the mirror, and none waits on it', async (t) => {
  const clock = new FakeClock();
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [], clock, fetch: mirror.fetchFn, breakerThreshold: 1, unprobedCooldownMs: 30_000 });
  mirror.answers.HEAD = 503;
  await state.checkNow(blob('b', 0));
  t.false(state.health('b').up);
  const headsAtTrip = mirror.calls.HEAD;

  mirror.answers.HEAD = 'hang'; // the trial does not answer yet
  clock.advance(30_000);
  // A burst of requests for 100 distinct objects, as the redirect path makes them: read health,
  // wait for checks, then (after answering) start the trial the decision saw due.
  const request = async (n: number) => {
    const health = state.health('b');
    await state.ensureChecked([blob('b', n)], 300); // resolves at once: nothing to check on a down mirror
    if (health.trial) state.refresh([health.trial]);
    return health;
  };
  for (let n = 1; n <= 100; n++) t.false((await request(n)).up, 'still skipped while the trial runs');
  t.is(mirror.calls.HEAD, headsAtTrip + 1, 'exactly one trial HEAD');
  t.is(mirror.calls.HEAD - headsAtTrip, 1);

  // The trial times out: re-opened for another cooldown, no new trial before it ends.
  clock.advance(2_000);
  await new Promise((resolve) => setImmediate(resolve));
  t.false(state.health('b').up);
  clock.advance(10_000);
  await request(101);
  t.is(mirror.calls.HEAD, headsAtTrip + 1);
  // After the next cooldown, one more trial; it passes and the mirror is back.
  mirror.answers.HEAD = 200;
  clock.advance(20_000);
  await request(102);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(mirror.calls.HEAD, headsAtTrip + 2);
  t.true(state.health('b').up);
});

test('ensureChecked checks only unknown objects on up mirrors, and waits for them', async (t) => {
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [probe('down', { fall: 1 })], clock: new FakeClock(), fetch: mirror.fetchFn });
  mirror.answers.GET = 500;
  await state.probeNow();
  await state.checkNow(blob('a', 1));
  t.is(mirror.calls.HEAD, 1);
  await state.ensureChecked([blob('a', 1), blob('a', 2), blob('a', 2), blob('b', 1), blob('down', 1)], 300);
  t.is(mirror.calls.HEAD, 3, 'a/2 once (coalesced) and b/1; a/1 is cached; the down mirror is skipped');
  t.like(state.availability('a', blob('a', 2).key), { state: 'present' });
  t.like(state.availability('b', blob('b', 1).key), { state: 'present' });
  t.is(state.availability('down', blob('down', 1).key), undefined);
  await state.ensureChecked([], 300);
  await state.ensureChecked([blob('a', 1)], 300);
  t.is(mirror.calls.HEAD, 3);
  t.like(state.stats(), { headsSent: 3, entries: 3 });
});

test('ensureChecked resolves at its deadline; the check goes on and fills the cache', async (t) => {
  const clock = new FakeClock();
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [], clock, fetch: mirror.fetchFn });
  mirror.answers.HEAD = 'hang';
  const waiting = state.ensureChecked([{ ...blob('a', 1), timeoutMs: 2_000 }], 300);
  clock.advance(300);
  await waiting;
  t.is(state.availability('a', blob('a', 1).key), undefined, 'still unknown at the deadline');
  t.is(state.stats().inflight, 1);
  clock.advance(1_700);
  await state.checkNow(blob('a', 1)); // joins the running one
  t.like(state.availability('a', blob('a', 1).key), { state: 'error' });
});

test('past the verify bound a present answer is re-checked before use; unanswered in time, it is unknown', async (t) => {
  const clock = new FakeClock();
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [], clock, fetch: mirror.fetchFn, cache: { ttls: { verifyMs: 60_000 } } });
  await state.ensureChecked([blob('a', 1)], 300);
  t.like(state.availability('a', blob('a', 1).key), { state: 'present' });
  t.is(mirror.calls.HEAD, 1);
  clock.advance(60_000);
  // The mirror lost it; nobody asked for it in the meantime.
  mirror.answers.HEAD = 404;
  t.is(state.availability('a', blob('a', 1).key), undefined, 'a 60 s old "present" is not used');
  await state.ensureChecked([blob('a', 1)], 300);
  t.is(mirror.calls.HEAD, 2, 'the request waited for a re-check');
  t.like(state.availability('a', blob('a', 1).key), { state: 'absent' });
  // Back, then past the bound again with a mirror that does not answer: unknown at the deadline
  // (the decision then takes the next mirror known to hold it, or the origin).
  mirror.answers.HEAD = 200;
  t.is(state.purge({ mirror: 'a' }), 1, 'the operator purges the mirror after restoring it');
  await state.ensureChecked([blob('a', 1)], 300);
  t.like(state.availability('a', blob('a', 1).key), { state: 'present' });
  clock.advance(60_000);
  mirror.answers.HEAD = 'hang';
  const waiting = state.ensureChecked([{ ...blob('a', 1), timeoutMs: 2_000 }], 300);
  clock.advance(300);
  await waiting;
  t.is(state.availability('a', blob('a', 1).key), undefined);
  // Reading changed nothing: the expired answer is still held (not used) until a purge or eviction.
  t.is(state.purge({ mirror: 'a' }), 1);
  await state.stop();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('real HTTP: a mirror that never answers does not hold the request past the deadline', async (t) => {
  const server = createServer(() => {}); // accepts, never answers
  const base = await listen(server);
  const state = new MirrorState({ probes: [] });
  t.teardown(async () => {
    await state.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  await state.ensureChecked([{ mirror: 'hang', key: 'k', url: `${base}/k`, kind: 'binary', timeoutMs: 60_000 }], 100);
  t.is(state.availability('hang', 'k'), undefined);
  t.is(state.stats().inflight, 1, 'the HEAD goes on in the background');
});

test('replaceMirrors keeps probe state of mirrors that stay', async (t) => {
  const mirror = fakeMirror();
  const state = new MirrorState({ probes: [probe('a', { fall: 1 }), probe('b')], clock: new FakeClock(), fetch: mirror.fetchFn });
  mirror.answers.GET = 500;
  await state.probeNow();
  state.replaceMirrors([probe('a', { fall: 1 })]);
  t.false(state.health('a').up);
  t.true(state.health('b').up, 'b is no longer probed: up');
});
