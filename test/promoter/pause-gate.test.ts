import test from 'ava';
import { PauseGate } from '../../src/promoter/pause-gate.js';

test('a 429 with Retry-After pauses every request through the gate, not only the one that got it', async (t) => {
  const seen: { url: string; at: number }[] = [];
  let first = true;
  const fake: typeof fetch = async (input) => {
    seen.push({ url: String(input), at: Date.now() });
    if (first) {
      first = false;
      return new Response('slow down', { status: 429, headers: { 'retry-after': '1' } });
    }
    return new Response('ok');
  };
  const gated = new PauseGate().wrap(fake);
  const t0 = Date.now();
  t.is((await gated('http://r/a')).status, 429);
  // Three other workers ask now: none reaches the registry before the second is over.
  const others = await Promise.all(['b', 'c', 'd'].map((p) => gated(`http://r/${p}`)));
  t.deepEqual(
    others.map((r) => r.status),
    [200, 200, 200],
  );
  for (const s of seen.slice(1)) t.true(s.at - t0 >= 950, `${s.url} sent ${s.at - t0} ms after the 429`);
});

test('without Retry-After a 429 pauses for a second; other answers do not pause', async (t) => {
  const statuses = [200, 500, 429, 200];
  const fake: typeof fetch = async () => new Response('', { status: statuses.shift() ?? 200 });
  const gated = new PauseGate().wrap(fake);
  const t0 = Date.now();
  await gated('http://r/1');
  await gated('http://r/2');
  t.true(Date.now() - t0 < 900, 'a 500 does not pause');
  await gated('http://r/3');
  const t1 = Date.now();
  await gated('http://r/4');
  t.true(Date.now() - t1 >= 950);
});
