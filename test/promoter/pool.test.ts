import test from 'ava';
import { mapPool, Slots } from '../../src/promoter/pool.js';

test('mapPool keeps order, bounds concurrency and isolates failures', async (t) => {
  let active = 0;
  let peak = 0;
  const r = await mapPool([1, 2, 3, 4, 5, 6], 2, async (x) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((res) => setImmediate(res));
    active--;
    if (x === 3) throw new Error('three');
    return x * 10;
  });
  t.is(peak, 2);
  t.deepEqual(
    r.map((x) => (x.status === 'fulfilled' ? x.value : 'x')),
    [10, 20, 'x', 40, 50, 60],
  );
});

test('Slots bound several pools together: 3 destinations x --parallel 4 run at most 4 tasks at once', async (t) => {
  const slots = new Slots(4);
  let active = 0;
  let peak = 0;
  const task = () =>
    slots.run(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((res) => setImmediate(res));
      active--;
    });
  const pools = await Promise.all([0, 1, 2].map(() => mapPool(Array.from({ length: 10 }), 4, task)));
  t.is(peak, 4);
  t.true(pools.flat().every((r) => r.status === 'fulfilled'));
});
