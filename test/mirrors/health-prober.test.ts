import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FetchLike } from '../../src/net/http.js';
import { HealthProber, type HealthChange, type ProbeResult, type ProbeTarget } from '../../src/mirrors/health-prober.js';
import { FakeClock } from './fake-clock.js';

const target = (name: string, extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  name,
  probeUrl: `http://mirror.test/${name}/v2/`,
  intervalMs: 10_000,
  timeoutMs: 1_000,
  rise: 2,
  fall: 3,
  ...extra,
});

type Answer = number | 'error' | 'hang';

/** A fetch whose answers per URL are set by the test; counts calls. */
function scriptedFetch(clock?: FakeClock, delayMs = 0) {
  const answers = new Map<string, Answer>();
  const calls: string[] = [];
  const fetchFn: FetchLike = (url, init) => {
    calls.push(url);
    const answer = answers.get(url) ?? 200;
    if (answer === 'hang') {
      return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    }
    clock?.advance(delayMs);
    if (answer === 'error') return Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }));
    return Promise.resolve({ status: answer, headers: new Headers() });
  };
  return { fetchFn, answers, calls };
}

test('one lost probe does not flap; fall failures take it down, rise successes bring it back', async (t) => {
  const clock = new FakeClock();
  const { fetchFn, answers } = scriptedFetch();
  const prober = new HealthProber([target('a')], { clock, fetch: fetchFn });
  const changes: HealthChange[] = [];
  prober.onChange((change) => changes.push(change));
  const url = target('a').probeUrl;

  t.true(prober.health('a').up, 'up before any probe (default)');
  answers.set(url, 500);
  await prober.probeNow();
  t.true(prober.health('a').up, 'one failure: still up');
  answers.set(url, 200);
  await prober.probeNow();
  answers.set(url, 'error');
  await prober.probeNow();
  await prober.probeNow();
  t.true(prober.health('a').up, 'a success in between restarts the failure count');
  await prober.probeNow();
  const down = prober.health('a');
  t.false(down.up, 'three consecutive failures: down');
  t.regex(down.reason ?? '', /ECONNREFUSED/);
  t.deepEqual(
    changes.map((c) => c.up),
    [false],
  );

  answers.set(url, 200);
  await prober.probeNow();
  t.false(prober.health('a').up, 'one success is not enough to rise');
  await prober.probeNow();
  t.true(prober.health('a').up);
  t.is(prober.health('a').reason, undefined);
  t.deepEqual(
    changes.map((c) => c.up),
    [false, true],
  );
});

test('2xx, 3xx and 401 count as success; 404 and 5xx as failure', async (t) => {
  const { fetchFn, answers } = scriptedFetch();
  const statuses = [200, 204, 301, 307, 401, 403, 404, 500, 503];
  const targets = statuses.map((status) => target(`m${status}`, { fall: 1 }));
  for (const [i, status] of statuses.entries()) answers.set(targets[i]!.probeUrl, status);
  const prober = new HealthProber(targets, { fetch: fetchFn, clock: new FakeClock() });
  await prober.probeNow();
  const up = statuses.filter((status) => prober.health(`m${status}`).up);
  t.deepEqual(up, [200, 204, 301, 307, 401]);
  t.regex(prober.health('m503').reason ?? '', /HTTP 503/);
});

test('a probe that hangs fails at its timeout', async (t) => {
  const clock = new FakeClock();
  const { fetchFn, answers } = scriptedFetch();
  const prober = new HealthProber([target('a', { fall: 1, timeoutMs: 500 })], { clock, fetch: fetchFn });
  answers.set(target('a').probeUrl, 'hang');
  const round = prober.probeNow();
  clock.advance(500);
  await round;
  t.false(prober.health('a').up);
  t.regex(prober.health('a').reason ?? '', /timeout after 500 ms/);
});

test('initial state can be down; it then needs rise successes', async (t) => {
  const { fetchFn } = scriptedFetch();
  const prober = new HealthProber([target('a', { initiallyUp: false, rise: 3 })], { clock: new FakeClock(), fetch: fetchFn });
  t.false(prober.health('a').up);
  await prober.probeNow();
  await prober.probeNow();
  t.false(prober.health('a').up);
  await prober.probeNow();
  t.true(prober.health('a').up);
});

test('latency is smoothed (EWMA) from successful probes', async (t) => {
  const clock = new FakeClock();
  let delay = 100;
  const fetchFn: FetchLike = () => {
    clock.advance(delay);
    return Promise.resolve({ status: 200, headers: new Headers() });
  };
  const prober = new HealthProber([target('a')], { clock, fetch: fetchFn, ewmaAlpha: 0.5 });
  await prober.probeNow();
  t.is(prober.health('a').latencyMs, 100);
  delay = 300;
  await prober.probeNow();
  t.is(prober.health('a').latencyMs, 200);
});

test('markDown takes a mirror down at once and it needs rise fresh successes', async (t) => {
  const { fetchFn } = scriptedFetch();
  const prober = new HealthProber([target('a', { rise: 2 })], { clock: new FakeClock(), fetch: fetchFn });
  await prober.probeNow(); // one success before the trip must not count towards rising
  prober.markDown('a', 'breaker');
  t.deepEqual(prober.health('a').up, false);
  t.is(prober.health('a').reason, 'breaker');
  await prober.probeNow();
  t.false(prober.health('a').up);
  await prober.probeNow();
  t.true(prober.health('a').up);
  prober.markDown('unknown', 'ignored');
  t.true(prober.health('unknown').up, 'an unprobed mirror is reported up');
});

test('start probes in the background on jittered timers; stop clears every timer', async (t) => {
  const clock = new FakeClock();
  const { fetchFn, calls } = scriptedFetch();
  const prober = new HealthProber([target('a'), target('b')], { clock, fetch: fetchFn, random: () => 0.5 });
  const probed: ProbeResult[] = [];
  let notify: () => void = () => {};
  prober.onProbe((result) => {
    probed.push(result);
    notify();
  });
  const nextProbes = (n: number) =>
    new Promise<void>((resolve) => {
      const target = probed.length + n;
      notify = () => {
        if (probed.length >= target) resolve();
      };
    });

  prober.start();
  t.is(clock.pending, 2, 'one timer per mirror');
  t.is(calls.length, 0, 'nothing probed synchronously');
  let wait = nextProbes(2);
  clock.advance(5_000); // random 0.5 of a 10 s interval
  await wait;
  t.is(calls.length, 2);
  // Rescheduling happens after the probe's promise chain; give it one macrotask turn.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(clock.pending, 2, 'next probes scheduled');
  wait = nextProbes(2);
  clock.advance(10_000);
  await wait;
  t.is(calls.length, 4);
  await prober.stop();
  await new Promise((resolve) => setImmediate(resolve));
  t.is(clock.pending, 0, 'stop leaves no timer');
  clock.advance(100_000);
  t.is(calls.length, 4);
});

test('stop aborts a probe in flight and resolves', async (t) => {
  const clock = new FakeClock();
  const { fetchFn, answers } = scriptedFetch();
  const prober = new HealthProber([target('a', { fall: 1 })], { clock, fetch: fetchFn });
  answers.set(target('a').probeUrl, 'hang');
  const round = prober.probeNow();
  await prober.stop();
  await round;
  t.true(prober.health('a').up, 'an aborted probe is not a failure');
  t.is(clock.pending, 0);
});

test('replaceMirrors keeps the state of mirrors that stay', async (t) => {
  const { fetchFn, answers } = scriptedFetch();
  const prober = new HealthProber([target('a', { fall: 1 }), target('b')], { clock: new FakeClock(), fetch: fetchFn });
  answers.set(target('a').probeUrl, 500);
  await prober.probeNow();
  t.false(prober.health('a').up);
  prober.replaceMirrors([target('a', { fall: 1, intervalMs: 5_000 }), target('c', { initiallyUp: false })]);
  t.false(prober.health('a').up, 'a kept its state');
  t.false(prober.has('b'));
  t.true(prober.has('c'));
  t.false(prober.health('c').up);
  t.throws(() => prober.replaceMirrors([target('d', { rise: 0 })]), { message: /rise must be > 0/ });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('real HTTP: a registry-like 401 is up, a 500 goes down, a closed port goes down', async (t) => {
  let status = 401;
  const server = createServer((_, res) => {
    res.statusCode = status;
    res.end('{}');
  });
  const base = await listen(server);
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const closed = createServer();
  const closedBase = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));

  const prober = new HealthProber([
    { ...target('reg', { fall: 2 }), probeUrl: `${base}/v2/` },
    { ...target('gone', { fall: 1 }), probeUrl: `${closedBase}/v2/` },
  ]);
  await prober.probeNow();
  t.true(prober.health('reg').up);
  t.false(prober.health('gone').up);
  t.regex(prober.health('gone').reason ?? '', /ECONNREFUSED|fetch failed/);
  status = 500;
  await prober.probeNow();
  await prober.probeNow();
  t.false(prober.health('reg').up);
  t.regex(prober.health('reg').reason ?? '', /HTTP 500/);
  await prober.stop();
});
