import test from 'ava';
import { addEntry, createAggregates, type Aggregates } from '../../src/report/aggregate.js';
import { buildReport, type InputFacts } from '../../src/report/build.js';
import { BYTES_PER_GB, type Prices } from '../../src/report/prices.js';
import type { AccessLogEntry } from '../../src/server/access-log.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const INPUT: InputFacts = { files: ['x'], lines: 0, valid: 0, malformed: 0, filteredOut: 0, malformedSamples: [], readErrors: [] };

function add(agg: Aggregates, n: number, over: Partial<AccessLogEntry>): void {
  for (let i = 0; i < n; i++) addEntry(agg, { time: T0, method: 'GET', path: '/bin/x', status: 302, ip: '192.0.2.1', ms: 1, ...over });
}

function sample(): Aggregates {
  const agg = createAggregates();
  add(agg, 8, { country: 'DE', continent: 'EU', mirror: 'eu', region: 'Europe', bytes: BYTES_PER_GB });
  add(agg, 2, { country: 'DE', continent: 'EU', mirror: 'us', region: 'default', bytes: BYTES_PER_GB });
  add(agg, 3, { country: 'BR', continent: 'SA', mirror: 'us', region: 'default', bytes: BYTES_PER_GB, time: T0 + 100_000 });
  add(agg, 1, { country: 'BR', continent: 'SA', mirror: 'us', region: 'default' });
  add(agg, 1, { country: 'BR', continent: 'SA', status: 503 });
  add(agg, 1, { country: 'JP', continent: 'AS', mirror: 'origin-bucket', region: 'origin', bytes: 2 * BYTES_PER_GB });
  add(agg, 1, { country: 'JP', continent: 'AS', status: 400 });
  return agg;
}

const PRICES: Prices = { perMirror: { eu: 0.05, us: 0.1 }, default: undefined };

test('costs per mirror at each mirror price; unpriced bytes are kept apart; totals and rate', (t) => {
  const report = buildReport(sample(), { input: INPUT, prices: PRICES, top: 0, since: undefined, until: undefined });
  const mirrors = Object.fromEntries(report.cost.byMirror.map((r) => [r.name, r]));
  t.is(mirrors.eu!.cost, 8 * 0.05);
  t.is(mirrors.us!.cost, 5 * 0.1);
  t.is(mirrors.us!.unsizedShare, 1 / 6);
  t.is(mirrors['origin-bucket']!.cost, 0);
  t.is(mirrors['origin-bucket']!.pricePerGB, null);
  t.is(mirrors['origin-bucket']!.unpricedBytes, 2 * BYTES_PER_GB);
  t.deepEqual(
    report.cost.byMirror.map((r) => r.name),
    ['us', 'eu', 'origin-bucket'],
  ); // biggest cost first
  const de = report.cost.byCountry.find((r) => r.name === 'DE')!;
  t.is(de.cost, 8 * 0.05 + 2 * 0.1);
  t.is(report.totals.requests, 17);
  t.is(report.totals.bytes, 15 * BYTES_PER_GB);
  t.is(report.totals.unsizedShare, 1 / 15); // 15 GET redirects, one without a size
  t.is(report.totals.requestsPerSecond, 17 / 100);
  t.deepEqual(report.range, { from: '2026-06-01T00:00:00.000Z', to: '2026-06-01T00:01:40.000Z', seconds: 100 });
});

test('without prices there are no costs, and all bytes are unpriced', (t) => {
  const report = buildReport(sample(), { input: INPUT, prices: null, top: 0, since: undefined, until: undefined });
  t.is(report.totals.cost, null);
  t.is(report.totals.unpricedBytes, 15 * BYTES_PER_GB);
  t.deepEqual(
    report.cost.byMirror.map((r) => r.name),
    ['eu', 'us', 'origin-bucket'],
  ); // biggest egress first
});

test('reachability: shares, top mirror, and countries mostly on the default or origin are flagged', (t) => {
  const report = buildReport(sample(), { input: INPUT, prices: null, top: 0, since: undefined, until: undefined });
  const rows = Object.fromEntries(report.reachability.countries.map((r) => [r.country, r]));
  t.like(rows.DE, { requests: 10, redirectShare: 1, topMirror: { name: 'eu', share: 0.8 }, topRegion: { name: 'Europe', share: 0.8 }, fallbackShare: 0.2, note: '' });
  t.like(rows.BR, { continent: 'SA', requests: 5, redirectShare: 0.8, serverErrorShare: 0.2, unavailableShare: 0.2, topMirror: { name: 'us', share: 1 }, note: 'served by default' });
  t.like(rows.JP, { requests: 2, redirectShare: 0.5, clientErrorShare: 0.5, note: 'served by origin' });
  t.deepEqual(report.reachability.servedByDefault, ['BR']);
  t.deepEqual(report.reachability.servedByOrigin, ['JP']);
});

test('--top cuts every table but the flagged list; rows say how many there were', (t) => {
  const report = buildReport(sample(), { input: INPUT, prices: null, top: 1, since: undefined, until: undefined });
  t.deepEqual(
    report.reachability.countries.map((r) => r.country),
    ['DE'],
  );
  t.is(report.cost.byCountry.length, 1);
  t.is(report.cost.byMirror.length, 1);
  t.is(report.rows.countries, 3);
  t.deepEqual(report.reachability.servedByDefault, ['BR']);
});

test('a country split between the default and the origin is flagged too', (t) => {
  // Half on the default, half on the origin: neither alone is "most", yet no regional mirror serves it.
  const agg = createAggregates();
  add(agg, 2, { country: 'ZA', continent: 'AF', mirror: 'us', region: 'default' });
  add(agg, 2, { country: 'ZA', continent: 'AF', mirror: 'origin-bucket', region: 'origin' });
  add(agg, 1, { country: 'KE', continent: 'AF', mirror: 'us', region: 'default' });
  add(agg, 1, { country: 'KE', continent: 'AF', mirror: 'origin-bucket', region: 'origin' });
  add(agg, 2, { country: 'KE', continent: 'AF', mirror: 'af', region: 'Africa' });
  const report = buildReport(agg, { input: INPUT, prices: null, top: 0, since: undefined, until: undefined });
  const rows = Object.fromEntries(report.reachability.countries.map((r) => [r.country, r]));
  t.like(rows.ZA, { fallbackShare: 1, note: 'served by default and origin' });
  t.like(rows.KE, { fallbackShare: 0.5, note: '' });
  t.deepEqual(report.reachability.servedByDefaultAndOrigin, ['ZA']);
});
