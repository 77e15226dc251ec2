import test from 'ava';
import { LatencyHistogram, RELATIVE_ERROR } from '../../src/report/quantiles.js';

/** The exact nearest-rank quantile, what the histogram estimates. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function withinBound(t: { true(v: boolean, m?: string): void }, estimate: number | null, truth: number, label: string): void {
  const error = truth === 0 ? Math.abs(estimate ?? Number.NaN) : Math.abs((estimate ?? Number.NaN) - truth) / truth;
  t.true(error <= RELATIVE_ERROR + 1e-12, `${label}: estimate ${estimate}, exact ${truth}, error ${error}`);
}

test('empty histogram has no quantiles', (t) => {
  const h = new LatencyHistogram();
  t.deepEqual(h.summary(), { count: 0, p50: null, p90: null, p99: null, max: null });
});

test('one value is every quantile, exactly (clamped to min and max)', (t) => {
  const h = new LatencyHistogram();
  h.add(0.437);
  t.deepEqual(h.summary(), { count: 1, p50: 0.437, p90: 0.437, p99: 0.437, max: 0.437 });
});

test('zeros and sub-microsecond values count as zero; negatives and NaN are ignored', (t) => {
  const h = new LatencyHistogram();
  for (const v of [0, 0, 0.0004, -1, Number.NaN, 5]) h.add(v);
  t.is(h.count, 4);
  t.is(h.quantile(0.5), 0);
  t.is(h.quantile(0.75), 0);
  t.is(h.max, 5);
  t.is(h.quantile(1), 5);
});

test('quantiles of wide, skewed samples stay within the documented bound', (t) => {
  // Deterministic pseudo-random log-normal-ish latencies from microseconds to minutes.
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const values: number[] = [];
  for (let i = 0; i < 20_000; i++) values.push(Math.round(Math.exp(random() * 18 - 6) * 1000) / 1000);
  const h = new LatencyHistogram();
  for (const v of values) h.add(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]) withinBound(t, h.quantile(q), exact(sorted, q), `q${q}`);
  t.is(h.summary().max, sorted.at(-1)!);
});

test('values past the top bucket keep an exact max', (t) => {
  const h = new LatencyHistogram();
  h.add(1);
  h.add(3e7);
  t.is(h.quantile(1), 3e7);
  t.is(h.quantile(0.5), 1);
});
