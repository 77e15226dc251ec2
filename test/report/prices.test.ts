import test from 'ava';
import { BYTES_PER_GB, costOf, parsePrices, priceOf } from '../../src/report/prices.js';

test('mirror prices and a default', (t) => {
  const result = parsePrices('eu-bucket: 0.08\nus-bucket: 0.12\ndefault: 0.09\n');
  t.true(result.ok);
  if (!result.ok) return;
  t.is(priceOf(result.prices, 'eu-bucket'), 0.08);
  t.is(priceOf(result.prices, 'other'), 0.09);
  t.is(costOf(3 * BYTES_PER_GB, 0.08), 0.24);
});

test('without a default, an unlisted mirror has no price; a free mirror costs 0', (t) => {
  const result = parsePrices('corp-cache: 0\n');
  t.true(result.ok);
  if (!result.ok) return;
  t.is(priceOf(result.prices, 'corp-cache'), 0);
  t.is(priceOf(result.prices, 'constructor'), undefined);
});

test('bad price files say what is wrong', (t) => {
  const bad = (text: string) => {
    const r = parsePrices(text, 'p.yaml');
    return r.ok ? '' : r.problem;
  };
  t.regex(bad('eu: cheap\n'), /p\.yaml: price of "eu" must be a number >= 0/);
  t.regex(bad('eu: -1\n'), /must be a number >= 0/);
  t.regex(bad('- 1\n'), /expected a map/);
  t.regex(bad('eu: [\n'), /not YAML/);
});
