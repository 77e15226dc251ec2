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

// The lists are memoised per route by the regions a client matched (the redirect path's hot
// loop): the memo must give what building the list gives, for every client.
test('memoised candidate lists are the lists built afresh, and a weighted tier still orders per client', (t) => {
  const source = `
mirrors:
  a: { url: https://a.example, weight: 2 }
  b: { url: https://b.example }
  eu: { url: https://eu.example }
  de: { url: https://de.example }
  us: { url: https://us.example }
  origin: { url: https://origin.example }
routes:
  - prefix: /single
    regions: { DE: de, Europe: [eu, us], Americas: us }
    default: us
    origin: origin
  - prefix: /spread
    regions: { Europe: [[a, b], eu] }
    default: us
`;
  const clients = [
    { ip: parseIp('81.2.69.160')!, country: 'GB', continent: 'EU' },
    { ip: parseIp('5.9.0.1')!, country: 'DE', continent: 'EU' },
    { ip: parseIp('8.8.8.8')!, country: 'US', continent: 'NA' },
    { ip: parseIp('1.1.1.1')! },
  ];
  const route = compile(source).binaryRoutes[0]!;
  for (const client of clients) {
    const memoised = candidatesFor(route, client);
    // A config compiled again has routes the memo has never seen: its lists are built afresh.
    const fresh = candidatesFor(compile(source).binaryRoutes[0]!, client);
    t.deepEqual(
      memoised.map((c) => [c.mirror.name, c.region]),
      fresh.map((c) => [c.mirror.name, c.region]),
    );
    t.is(candidatesFor(route, client), memoised, 'the second ask is answered from the memo');
  }
  t.deepEqual(
    candidatesFor(route, clients[1]!).map((c) => c.mirror.name),
    ['de', 'eu', 'us', 'origin'],
  );
  const spread = compile(source).binaryRoutes[1]!;
  const firsts = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const client = { ip: parseIp(`81.2.${i}.7`)!, country: 'GB', continent: 'EU' };
    const names = candidatesFor(spread, client).map((c) => c.mirror.name);
    t.deepEqual(names, [...spreadByWeight([spread.continents[0]!.entry.tiers[0]![0]!, spread.continents[0]!.entry.tiers[0]![1]!], client.ip.text).map((m) => m.name), 'eu', 'us']);
    firsts.add(names[0]!);
  }
  t.deepEqual([...firsts].sort(), ['a', 'b'], 'clients of one region still spread over the weighted tier');
});

// No state outside the compiled config: the memo is the route's own, so a reload's new config
// starts empty and the old one's lists go with it; blob buckets are left out (and memoised) on ask.
test('the candidate memo is held by the compiled route, with and without blob buckets', (t) => {
  const source = `
mirrors:
  bucket: { blobs: https://bucket.example }
  eu: { registry: https://eu.example }
  us: { registry: https://us.example }
routes:
  - prefix: /v2/
    regions: { Europe: [bucket, eu] }
    default: us
`;
  const client = { ip: parseIp('81.2.69.160')!, country: 'GB', continent: 'EU' };
  const route = compile(source).ociRoutes[0]!;
  t.is(route.candidateMemo.next.size, 0, 'compiled empty');
  const all = candidatesFor(route, client);
  t.deepEqual(
    all.map((c) => c.mirror.name),
    ['bucket', 'eu', 'us'],
  );
  t.is(route.candidateMemo.next.size, 1, 'filled in the route that was asked');
  const bucketless = candidatesFor(route, client, false);
  t.deepEqual(
    bucketless.map((c) => c.mirror.name),
    ['eu', 'us'],
  );
  t.is(candidatesFor(route, client, false), bucketless, 'the list without buckets is memoised too');
  t.is(candidatesFor(route, client), all);
  t.is(compile(source).ociRoutes[0]!.candidateMemo.next.size, 0, 'a config compiled again has a memo of its own');
});
