import test from 'ava';
import { Breaker } from '../../src/mirrors/breaker.js';

test('trips after threshold consecutive failures; a success in between restarts the count', (t) => {
  const breaker = new Breaker({ threshold: 3 });
  t.false(breaker.recordFailure('HTTP 500', 1));
  t.false(breaker.recordFailure('HTTP 500', 2));
  breaker.recordSuccess(3);
  t.false(breaker.recordFailure('timeout', 4));
  t.false(breaker.recordFailure('timeout', 5));
  t.false(breaker.isOpen(5));
  t.true(breaker.recordFailure('timeout', 6), 'third consecutive failure trips');
  t.true(breaker.isOpen(6));
  t.is(breaker.since, 6);
  t.regex(breaker.reason ?? '', /3 failed availability checks \(last: timeout\)/);
});

test('without a cooldown only reset() closes it; successful checks do not', (t) => {
  const breaker = new Breaker({ threshold: 1 });
  t.true(breaker.recordFailure('x', 0));
  breaker.recordSuccess(10);
  t.true(breaker.isOpen(1e12));
  t.false(breaker.recordFailure('x', 20), 'already open');
  breaker.reset();
  t.false(breaker.isOpen(30));
  t.is(breaker.reason, undefined);
});

test('with a cooldown it half-opens: traffic stays away, exactly one trial; its failure re-trips, its success closes', (t) => {
  const breaker = new Breaker({ threshold: 2, cooldownMs: 100 });
  breaker.recordFailure('x', 0);
  t.true(breaker.recordFailure('x', 0));
  t.true(breaker.isOpen(99));
  t.false(breaker.claimTrial(99), 'no trial before the cooldown');
  t.true(breaker.isOpen(100), 'half-open: traffic still avoids the mirror');
  t.true(breaker.claimTrial(100), 'one trial');
  t.false(breaker.claimTrial(101), 'and only one');
  t.true(breaker.recordFailure('y', 150), 'the trial failing re-trips');
  t.true(breaker.isOpen(200));
  t.false(breaker.claimTrial(200), 'a new cooldown from the re-trip');
  t.true(breaker.claimTrial(250));
  t.true(breaker.recordSuccess(260), 'the trial passing closes it');
  t.false(breaker.isOpen(260));
  t.false(breaker.recordFailure('z', 270), 'closed again: back to counting');
});

test('rejects a threshold below 1', (t) => {
  t.throws(() => new Breaker({ threshold: 0 }));
});
