import test from 'ava';
import type { CompiledMirror } from '../../src/config/compiled.js';
import { candidatesFor, spreadByWeight } from '../../src/mirrors/candidates.js';
import { parseIp } from '../../src/geo/ip.js';
import { compile } from '../helpers/config.js';

const mirror = (name: string, weight = 1): CompiledMirror => ({ name, kind: 'binary', base: `https://${name}.example`, repository: '', weight });

function shares(tier: CompiledMirror[], clients: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < clients; i++) {
    const first = spreadByWeight(tier, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)[0]!.name;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

test('a tier spreads clients in proportion to weight', (t) => {
  const counts = shares([mirror('a', 3), mirror('b', 1)], 20_000);
  const aShare = counts.get('a')! / 20_000;
  t.true(aShare > 0.72 && aShare < 0.78, `a got ${aShare}`);
  const even = shares([mirror('a'), mirror('b'), mirror('c')], 30_000);
  for (const name of ['a', 'b', 'c']) t.true(Math.abs(even.get(name)! / 30_000 - 1 / 3) < 0.02, `${name}: ${even.get(name)}`);
});

test('a client keeps its mirror, and removing a mirror moves only that mirror’s clients', (t) => {
  const tier = [mirror('a'), mirror('b'), mirror('c')];
  let moved = 0;
  for (let i = 0; i < 5000; i++) {
    const client = `192.0.2.${i % 256}-${i}`;
    const before = spreadByWeight(tier, client)[0]!.name;
    t.is(spreadByWeight(tier, client)[0]!.name, before);
    const after = spreadByWeight([tier[0]!, tier[2]!], client)[0]!.name;
    if (before !== 'b' && after !== before) moved++;
  }
  t.is(moved, 0);
});

test('tiers: nested lists share a preference level; the next tier follows', (t) => {
  const config = compile(`
mirrors:
  a: { url: https://a.example, weight: 2 }
  b: { url: https://b.example }
  c: { url: https://c.example }
routes:
  - prefix: /f
    regions: { Europe: [[a, b], c] }
    default: c
`);
  const route = config.binaryRoutes[0]!;
  t.deepEqual(
    route.continents[0]!.entry.tiers.map((tier) => tier.map((m) => m.name)),
    [['a', 'b'], ['c']],
  );
  const names = candidatesFor(route, { ip: parseIp('81.2.69.160')!, country: 'GB', continent: 'EU' }).map((c) => c.mirror.name);
  t.deepEqual(names.slice(2), ['c']);
  t.deepEqual([...names.slice(0, 2)].sort(), ['a', 'b']);
});
