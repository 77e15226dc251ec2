// decide() reads mirror state and changes nothing: no LRU order moved, no hit counted, no HEAD
// sent. What it wants done (refresh a stale answer, a breaker's trial check) comes back in the
// decision, and the server does it after answering.
import test from 'ava';
import { decide, type RequestFacts } from '../../src/decision/decide.js';
import { LocationCache } from '../../src/geo/location.js';
import { MirrorState } from '../../src/mirrors/mirror-state.js';
import type { AvailabilityCheck } from '../../src/mirrors/state-view.js';
import type { FetchLike } from '../../src/net/http.js';
import { FakeClock } from '../mirrors/fake-clock.js';
import { compile } from '../helpers/config.js';

const config = compile(`
mirrors:
  eu: { url: http://eu.test }
  us: { url: http://us.test }
  origin: { url: http://origin.test }
routes:
  - prefix: /files
    default: [eu, us]
    origin: origin
`);

const facts = (path: string): RequestFacts => ({ method: 'GET', path, query: '', peerAddress: '192.0.2.1' });
const file = (mirror: string, name: string): AvailabilityCheck => ({ mirror, key: `file:/files/${name}`, url: `http://${mirror}.test/${name}`, kind: 'binary' });

function setUp(status: () => number) {
  const clock = new FakeClock();
  const heads: string[] = [];
  const fetchFn: FetchLike = (url, init) => {
    if (init.method === 'HEAD') heads.push(url);
    return Promise.resolve({ status: status(), headers: new Headers() });
  };
  // Two entries at most, so the order the LRU keeps them in shows in which one a third evicts.
  const state = new MirrorState({
    probes: [],
    clock,
    fetch: fetchFn,
    breakerThreshold: 1,
    unprobedCooldownMs: 30_000,
    cache: { maxEntries: 2, ttls: { immutablePresentMs: 1_000, staleMs: 60_000, verifyMs: 120_000 } },
  });
  return { clock, heads, state };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('deciding twice on a stale answer changes no state and returns the refresh it wants', async (t) => {
  const { clock, heads, state } = setUp(() => 200);
  t.teardown(() => state.stop());
  await state.checkNow(file('eu', 'a')); // the older entry
  await state.checkNow(file('eu', 'b'));
  clock.advance(1_500); // both stale: still served, due for a refresh
  const before = state.stats();

  const first = decide(facts('/files/a'), config, state);
  const second = decide(facts('/files/a'), config, state);
  await settle();

  t.deepEqual(second, first, 'the same answer from the same state');
  t.like(first, { kind: 'redirect', location: 'http://eu.test/a' });
  if (first.kind !== 'redirect') return;
  t.deepEqual(first.refresh, [file('eu', 'a')]);
  // eu once (stale: it is chosen and refreshed), us once (nothing cached: not offered as an alternative).
  t.deepEqual(first.reads, { hits: 0, staleHits: 1, misses: 1 }, 'each (mirror, object) read once');
  t.deepEqual(state.stats(), before, 'no hit counted, no HEAD in flight');
  t.is(heads.length, 2, 'no refresh started by deciding');
  // LRU order untouched: "a" is still the oldest entry, so a third entry evicts it, not "b".
  await state.checkNow(file('eu', 'c'));
  t.is(state.availability('eu', file('eu', 'a').key), undefined);
  t.like(state.availability('eu', file('eu', 'b').key), { state: 'present' });

  // The server's part, after answering: count the reads once, start the refresh once.
  state.countReads(first.reads!);
  state.refresh(first.refresh!);
  state.refresh(first.refresh!); // a second request's refresh joins the one in flight
  await settle();
  t.is(heads.length, 4, 'c, then one refresh of a');
  t.like(state.stats(), { staleHits: before.staleHits + 1, hits: before.hits, misses: before.misses + 1 });
});

test("an unprobed mirror's breaker trial is asked for by the decision, not started by it", async (t) => {
  let status = 503;
  const { clock, heads, state } = setUp(() => status);
  t.teardown(() => state.stop());
  await state.checkNow(file('eu', 'a')); // trips the breaker (threshold 1)
  t.false(state.health('eu').up);
  status = 200;
  clock.advance(30_000); // half-open: one trial is due

  const decision = decide({ ...facts('/files/b'), checksDone: true }, config, state);
  decide({ ...facts('/files/b'), checksDone: true }, config, state);
  t.false(state.health('eu').up);
  await settle();
  t.is(heads.length, 1, 'reading health started no trial');
  t.like(decision, { kind: 'redirect' });
  if (decision.kind !== 'redirect') return;
  t.deepEqual(decision.refresh, [file('eu', 'a')], 'the trial repeats the check that failed');

  state.refresh(decision.refresh!);
  state.refresh(decision.refresh!); // exactly one trial per half-open period
  await settle();
  t.is(heads.length, 2);
  t.true(state.health('eu').up, 'the trial passed and closed the breaker');
});

test('the location memo is the caller’s, not the config’s', (t) => {
  const locations = new LocationCache(16);
  const before = JSON.stringify(Object.keys(config.geo));
  const withMemo = decide({ ...facts('/files/a'), checksDone: true }, config, ALL_PRESENT, locations);
  const again = decide({ ...facts('/files/a'), checksDone: true }, config, ALL_PRESENT, locations);
  t.is(locations.size, 1);
  t.is(withMemo.kind === 'redirect' && again.kind === 'redirect' && withMemo.client === again.client, true, 'the second lookup came from the memo');
  const without = decide({ ...facts('/files/a'), checksDone: true }, config, ALL_PRESENT);
  t.like(without, { kind: 'redirect', client: { ip: { text: '192.0.2.1' } } });
  t.is(JSON.stringify(Object.keys(config.geo)), before, 'nothing written into the compiled config');
  t.false('memo' in config.geo);
});

test('a new config (new geo data) starts the location memo over', (t) => {
  const locations = new LocationCache(16);
  decide({ ...facts('/files/a'), checksDone: true }, config, ALL_PRESENT, locations);
  const other = compile(`
mirrors:
  eu: { url: http://eu.test }
routes:
  - prefix: /files
    default: eu
`);
  decide({ ...facts('/files/a'), checksDone: true }, other, ALL_PRESENT, locations);
  t.is(locations.size, 1, 'the old config’s locations were dropped');
});

const ALL_PRESENT = {
  health: () => ({ up: true }),
  availability: () => ({ state: 'present' as const, checkedAt: 0 }),
};
