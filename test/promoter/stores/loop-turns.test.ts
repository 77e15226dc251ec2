import test from 'ava';
import { LoopTurns } from '../../../src/promoter/stores/loop-turns.js';

test('a turn lets the event loop run once the budget is spent, and costs nothing before', async (t) => {
  let ran = false;
  setImmediate(() => {
    ran = true;
  });
  await new LoopTurns(60_000).turn();
  t.false(ran, 'within the budget: no turn given');
  await new LoopTurns(0).turn();
  t.true(ran, 'budget spent: the pending callback ran');
});

test('work awaiting turns in a loop never starves a timer', async (t) => {
  const turns = new LoopTurns(2);
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
  }, 1);
  const until = performance.now() + 200;
  while (!fired && performance.now() < until) await turns.turn();
  clearTimeout(timer);
  t.true(fired);
});
