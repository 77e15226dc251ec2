// The three outputs of `artifact-serving dns`, from the compiled config (the PowerDNS zone is
// served for real in test/e2e/geodns-pdns.test.ts).
import test from 'ava';
import { parse } from 'yaml';
import { main } from '../../src/cli.js';
import { octodnsZone, pdnsGeoipZones, zoneRecords } from '../../src/dns/records.js';
import { compile, writeConfig } from '../helpers/config.js';
import type { Loose } from '../helpers/loose.js';
import { octodnsProblems } from './octodns-schema.js';

const ROUTES = `mirrors:
  us: { url: https://us.example/files }
routes:
  - prefix: /files
    default: us
`;
// The example: only asia has IPv6.
const EXAMPLE = `${ROUTES}dns:
  name: artifacts.example
redirectors:
  europe:   { host: europe.artifacts.example,   addresses: [192.0.2.10], regions: [Europe, Africa] }
  asia:     { host: asia.artifacts.example,     addresses: [192.0.2.30, "2001:db8::30"], regions: [Asia, Oceania] }
  americas: { host: americas.artifacts.example, addresses: [192.0.2.20], regions: [Americas], default: true }
`;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('octoDNS: a dynamic A record with geo rules, pools falling back to the default; no AAAA while a redirector lacks IPv6', (t) => {
  const dns = compile(EXAMPLE).geoDns!;
  const zone = parse(octodnsZone(dns)) as Record<string, Loose>;
  t.deepEqual(octodnsProblems(zone), []);
  const apex = zone[''];
  t.is(apex.type, 'A', 'one record, no AAAA');
  t.is(apex.value, '192.0.2.20');
  t.deepEqual(apex.dynamic.pools.europe, { values: [{ value: '192.0.2.10' }], fallback: 'americas' });
  t.deepEqual(apex.dynamic.pools.americas, { values: [{ value: '192.0.2.20' }] });
  t.deepEqual(apex.dynamic.rules, [{ geos: ['EU', 'AF'], pool: 'europe' }, { geos: ['AS', 'OC'], pool: 'asia' }, { geos: ['NA', 'SA'], pool: 'americas' }, { pool: 'americas' }]);
  t.deepEqual(apex.octodns.healthcheck, { host: 'artifacts.example', path: '/readyz', port: 443, protocol: 'HTTPS' });
  // Regional names keep their own records, AAAA included.
  t.deepEqual(zone.asia, [
    { type: 'A', ttl: 60, value: '192.0.2.30' },
    { type: 'AAAA', ttl: 60, value: '2001:db8::30' },
  ]);
  t.deepEqual(zone.europe, { type: 'A', ttl: 60, value: '192.0.2.10' });
});

test('octoDNS: countries before continents, with octoDNS’s continent codes, and a second pool where one redirector has both', (t) => {
  const dns = compile(`${ROUTES}dns: { name: artifacts.k8s.io, zone: k8s.io, ttl: 30 }
redirectors:
  eu: { host: eu.artifacts.k8s.io, addresses: [192.0.2.1, 192.0.2.2], regions: [Europe, JP] }
  us: { host: us.artifacts.k8s.io, addresses: [192.0.2.3], regions: [DE, "country:RU", Americas], default: true }
`).geoDns!;
  const zone = parse(octodnsZone(dns)) as Record<string, Loose>;
  t.deepEqual(octodnsProblems(zone), []);
  t.deepEqual(Object.keys(zone), ['artifacts', 'eu.artifacts', 'us.artifacts']);
  t.deepEqual(zone.artifacts.dynamic.rules, [
    { geos: ['AS-JP'], pool: 'eu-countries' },
    { geos: ['EU-DE', 'EU-RU'], pool: 'us-countries' },
    { geos: ['EU'], pool: 'eu' },
    { geos: ['NA', 'SA'], pool: 'us' },
    { pool: 'us' },
  ]);
  t.deepEqual(zone.artifacts.dynamic.pools['eu-countries'].values, [{ value: '192.0.2.1' }, { value: '192.0.2.2' }]);
  t.is(zone.artifacts.ttl, 30);
  t.deepEqual(zone['eu.artifacts'].values, ['192.0.2.1', '192.0.2.2']);
});

test('the schema check catches what octoDNS rejects', (t) => {
  const pools = { a: { values: [{ value: '192.0.2.1' }] }, b: { values: [{ value: '192.0.2.2' }], fallback: 'c' } };
  const problems = octodnsProblems({
    '': {
      type: 'A',
      value: '192.0.2.1',
      dynamic: {
        pools,
        rules: [
          { geos: ['EU'], pool: 'a' },
          { geos: ['EU-DE', 'XX'], pool: 'a' },
          { geos: ['AS'], pool: 'b' },
        ],
      },
    },
  });
  t.deepEqual(problems, [
    '\'\' A: undefined fallback "c" for pool "b"',
    '\'\' A: rule 2 invalid, target pool "a" reused',
    "'' A: rule 2 targets geo EU-DE which is more specific than the previously seen EU in rule 1",
    '\'\' A: rule 2 unknown continent code "XX"',
    '\'\' A: final rule has "geos" and is not catchall',
  ]);
  t.true(octodnsProblems({ www: { type: 'A', value: 'not-an-ip' } })[0]!.includes('invalid A value'));
});

test('PowerDNS: a service trying country, continent, default; AAAA only with IPv6 everywhere', (t) => {
  const dns = compile(EXAMPLE).geoDns!;
  const text = pdnsGeoipZones(dns, { zonesFile: '/etc/powerdns/geoip-zones.yaml', databaseFile: '/usr/share/GeoIP/GeoLite2-Country.mmdb' });
  t.regex(text, /^# {3}geoip-database-files=mmdb:\/usr\/share\/GeoIP\/GeoLite2-Country\.mmdb$/m);
  t.regex(text, /^# {3}edns-subnet-processing=yes$/m);
  const doc = parse(text) as Loose;
  const domain = doc.domains[0];
  t.is(domain.domain, 'artifacts.example');
  t.deepEqual(domain.services, { 'artifacts.example': ['%cc.country._geo.artifacts.example', '%cn.continent._geo.artifacts.example', 'default._geo.artifacts.example'] });
  t.deepEqual(domain.records['as.continent._geo.artifacts.example'], [{ a: '192.0.2.30' }], 'no AAAA behind the public name');
  t.deepEqual(domain.records['asia.artifacts.example'], [{ a: '192.0.2.30' }, { aaaa: '2001:db8::30' }], 'the regional name keeps it');
  t.truthy(domain.records['artifacts.example'][0].soa);
});

test('zone: plain records for each regional name', (t) => {
  const text = zoneRecords(compile(EXAMPLE).geoDns!);
  const records = text
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .map((l) => l.split(/\s+/).join(' '));
  t.deepEqual(records, ['europe.artifacts.example. 60 IN A 192.0.2.10', 'asia.artifacts.example. 60 IN A 192.0.2.30', 'asia.artifacts.example. 60 IN AAAA 2001:db8::30', 'americas.artifacts.example. 60 IN A 192.0.2.20']);
});

test('the dns command: formats, a note about AAAA, and clear errors', async (t) => {
  const file = writeConfig(EXAMPLE);
  const octo = await run(['dns', '--config', file, '--format', 'octodns']);
  t.is(octo.code, 0);
  t.regex(octo.err, /no AAAA records for artifacts\.example: redirectors "europe", "americas" have no IPv6 address/);
  t.is((await run(['dns', '--config', file, '--format', 'zone'])).code, 0);
  const bad = await run(['dns', '--config', file, '--format', 'bind']);
  t.is(bad.code, 2);
  t.regex(bad.err, /"bind" is not one of octodns, pdns-geoip, zone/);
  t.is((await run(['dns', '--config', file])).code, 2);
  const none = await run(['dns', '--config', writeConfig(ROUTES), '--format', 'zone']);
  t.is(none.code, 1);
  t.regex(none.err, /no dns: and redirectors: sections/);
  const invalid = writeConfig(EXAMPLE.replace('default: true', 'default: false'));
  const problems = await run(['dns', '--config', invalid, '--format', 'zone']);
  t.is(problems.code, 1);
  t.true(problems.err.startsWith(`${invalid}:8:1: no redirector has default: true`), problems.err);
  const kosovo = await run(['dns', '--config', writeConfig(EXAMPLE.replace('[Europe, Africa]', '[Europe, XK]')), '--format', 'octodns']);
  t.is(kosovo.code, 1);
  t.regex(kosovo.err, /country XK has no octoDNS geo code/);
  const help = await run(['dns', '--help']);
  t.regex(help.out, /^Usage: artifact-serving dns/);
});

test('the example config the quick start serves yields every format, dual-stack at the apex', async (t) => {
  for (const format of ['octodns', 'pdns-geoip', 'zone']) {
    const r = await run(['dns', '--config', 'config/example.yaml', '--format', format]);
    t.is(r.code, 0, r.err);
    t.true(r.out.length > 0, format);
  }
  const octo = parse((await run(['dns', '--config', 'config/example.yaml', '--format', 'octodns'])).out) as Record<string, Loose>;
  t.deepEqual(octodnsProblems(octo), []);
  t.deepEqual(
    octo[''].map((r: { type: string }) => r.type),
    ['A', 'AAAA'],
  );
});
