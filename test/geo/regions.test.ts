import test from 'ava';
import { continentOf, parseRegion, type RegionSelector } from '../../src/geo/regions.js';

const good: [string, RegionSelector['kind'], unknown][] = [
  ['Americas', 'continent', ['NA', 'SA']],
  ['Europe', 'continent', ['EU']],
  ['north america', 'continent', ['NA']],
  ['EU', 'continent', ['EU']],
  ['OC', 'continent', ['OC']],
  ['continent:NA', 'continent', ['NA']],
  ['country:NA', 'country', 'NA'],
  ['DE', 'country', 'DE'],
  ['jp', 'country', 'JP'],
  ['aws:us-east-1', 'cloud', 'aws:us-east-1'],
  ['gcp:europe-west1', 'cloud', 'gcp:europe-west1'],
  ['azure:westeurope', 'cloud', 'azure:westeurope'],
  ['aws:*', 'cloud-provider', 'aws'],
  ['10.0.0.0/8', 'cidr', 8],
  ['2001:db8::/32', 'cidr', 32],
  ['default', 'default', undefined],
];

for (const [input, kind, detail] of good) {
  test(`region ${input}`, (t) => {
    const parsed = parseRegion(input);
    if (!parsed.ok) return t.fail(parsed.message);
    t.is(parsed.selector.kind, kind);
    const s = parsed.selector;
    if (s.kind === 'continent') t.deepEqual(s.continents, detail);
    if (s.kind === 'country') t.is<unknown, unknown>(s.country, detail);
    if (s.kind === 'cloud') t.is<unknown, unknown>(s.region, detail);
    if (s.kind === 'cloud-provider') t.is<unknown, unknown>(s.provider, detail);
    if (s.kind === 'cidr') t.is<unknown, unknown>(s.cidr.prefixLength, detail);
  });
}

const bad: [string, RegExp][] = [
  ['NA', /both a continent .* and a country .*continent:NA or country:NA/],
  ['AS', /both a continent/],
  ['XX', /not an ISO 3166-1/],
  ['Atlantis', /unknown region "Atlantis"/],
  ['ibm:dal10', /unknown region scheme "ibm"/],
  ['10.0.0.0/40', /not a valid CIDR/],
  ['continent:XX', /not a continent code/],
];

for (const [input, message] of bad) {
  test(`region ${input} is rejected with a reason`, (t) => {
    const parsed = parseRegion(input);
    t.false(parsed.ok);
    if (!parsed.ok) t.regex(parsed.message, message);
  });
}

test('continent of a country', (t) => {
  t.is(continentOf('DE'), 'EU');
  t.is(continentOf('BR'), 'SA');
  t.is(continentOf('ZZ'), undefined);
});
