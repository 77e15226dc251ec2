// The report command on a realistic generated log: several countries and mirrors, HEADs, sizes
// missing, errors, malformed lines, a plain and a gzip file. Expected numbers are computed here
// from the generated entries by the plainest code possible, and must match exactly.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/report/build.js';
import { reportCommand } from '../../src/report/cli.js';
import { RELATIVE_ERROR } from '../../src/report/quantiles.js';
import type { AccessLogEntry } from '../../src/server/access-log.js';
import { tempDir } from '../helpers/temp-dir.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const GB = 2 ** 30;

interface Place {
  country?: string;
  continent?: string;
  weight: number;
  mirror: string;
  region: string;
}

// DE/GB/JP have a mirror of their own; BR goes to the default; unknown is private addresses.
const PLACES: Place[] = [
  { country: 'DE', continent: 'EU', weight: 30, mirror: 'eu-bucket', region: 'Europe' },
  { country: 'GB', continent: 'EU', weight: 15, mirror: 'eu-bucket', region: 'Europe' },
  { country: 'US', continent: 'NA', weight: 25, mirror: 'us-bucket', region: 'Americas' },
  { country: 'JP', continent: 'AS', weight: 12, mirror: 'asia-registry', region: 'APAC' },
  { country: 'BR', continent: 'SA', weight: 10, mirror: 'us-bucket', region: 'default' },
  { weight: 8, mirror: 'corp-cache', region: '10.0.0.0/8' },
];

function generate(n: number): AccessLogEntry[] {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const total = PLACES.reduce((s, p) => s + p.weight, 0);
  const entries: AccessLogEntry[] = [];
  for (let i = 0; i < n; i++) {
    let pick = random() * total;
    const place =
      PLACES.find((p) => {
        pick -= p.weight;
        return pick < 0;
      }) ?? PLACES[0]!;
    const oci = random() < 0.5;
    const roll = random();
    const method = random() < 0.2 ? 'HEAD' : 'GET';
    const base = { time: T0 + i * 900, method, ip: '192.0.2.1', country: place.country, continent: place.continent, ms: Math.round(Math.exp(random() * 8 - 4) * 1000) / 1000, ua: 'containerd/2.0' };
    let entry: AccessLogEntry;
    // BR also sees a share of 503s: its only mirror is far away and sometimes down.
    if (roll < (place.country === 'BR' ? 0.15 : 0.02)) entry = { ...base, path: '/bin/kubectl', status: 503 };
    else if (roll < 0.2) entry = { ...base, path: oci ? '/v2/Bad/manifests/x' : '/bin/../etc', status: random() < 0.5 ? 400 : 404 };
    else if (roll < 0.25) entry = { ...base, path: '/v2/', status: 200 };
    else {
      const bytes = random() < 0.7 ? Math.floor(random() * 200 * 1024 * 1024) : undefined;
      entry = { ...base, path: oci ? `/v2/pause/blobs/sha256:${i}` : `/bin/v1.${i % 30}/kubectl`, status: oci ? 307 : 302, mirror: place.mirror, region: place.region, bytes };
    }
    entries.push(entry);
  }
  return entries;
}

const PRICES = 'eu-bucket: 0.02\nus-bucket: 0.12\nasia-registry: 0.08\ndefault: 0.01\n';

async function run(args: string[], stdin?: Readable): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s) };
  const code = stdin ? await reportCommand(args, io, stdin) : await main(['report', ...args], io);
  return { code, out, err };
}

/** Two files as the redirector rotates them: a plain one with malformed lines, and a gzip. */
function writeLogs(entries: AccessLogEntry[]) {
  const dir = tempDir('report-cli-');
  const lines = entries.slice(0, 1500).map((e) => JSON.stringify(e));
  // Malformed lines at known line numbers (1-based, after insertion): a torn write, garbage, a bad field.
  lines.splice(9, 0, '{"time":1780000000000,"method":"GE');
  lines.splice(99, 0, 'garbage');
  lines.splice(499, 0, JSON.stringify({ ...entries[0], status: 'ok' }));
  lines.splice(600, 0, ''); // blank: neither an entry nor malformed
  const plain = join(dir, 'access.log');
  writeFileSync(plain, `${lines.join('\n')}\n`);
  const gz = join(dir, 'access.log.1.gz');
  writeFileSync(
    gz,
    gzipSync(
      `${entries
        .slice(1500)
        .map((e) => JSON.stringify(e))
        .join('\n')}\n`,
    ),
  );
  const prices = join(dir, 'prices.yaml');
  writeFileSync(prices, PRICES);
  return { dir, plain, gz, prices };
}

const ENTRIES = generate(3000);
const FILES = writeLogs(ENTRIES);

const isRedirect = (e: AccessLogEntry) => e.status >= 300 && e.status < 400 && e.mirror !== undefined;
const isGetRedirect = (e: AccessLogEntry) => isRedirect(e) && e.method === 'GET';
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const PRICE: Record<string, number> = { 'eu-bucket': 0.02, 'us-bucket': 0.12, 'asia-registry': 0.08, 'corp-cache': 0.01 };

test('every number in --json matches the generated log', async (t) => {
  const { code, out, err } = await run(['--json', '--top', '0', '--prices', FILES.prices, FILES.plain, FILES.gz]);
  t.is(code, 0, err);
  const report = JSON.parse(out) as Report;

  t.deepEqual(report.input, {
    files: [FILES.plain, FILES.gz],
    lines: 3003,
    valid: 3000,
    malformed: 3,
    filteredOut: 0,
    malformedSamples: [
      { file: FILES.plain, line: 10, reason: 'not JSON' },
      { file: FILES.plain, line: 100, reason: 'not JSON' },
      { file: FILES.plain, line: 500, reason: 'status is not an HTTP status' },
    ],
    readErrors: [],
  });
  t.deepEqual(report.range, { from: new Date(T0).toISOString(), to: new Date(T0 + 2999 * 900).toISOString(), seconds: 2999 * 0.9 });
  t.is(report.totals.requests, 3000);
  t.is(report.totals.requestsPerSecond, 3000 / (2999 * 0.9));
  const byClass = (lo: number) => ENTRIES.filter((e) => e.status >= lo && e.status < lo + 100).length;
  t.deepEqual(report.totals.status, { '2xx': byClass(200), '3xx': byClass(300), '4xx': byClass(400), '5xx': byClass(500), '503': ENTRIES.filter((e) => e.status === 503).length });
  t.true(byClass(500) > 0 && byClass(400) > 0 && byClass(200) > 0);

  const gets = ENTRIES.filter(isGetRedirect);
  t.is(report.totals.bytes, sum(gets.map((e) => e.bytes ?? 0)));
  t.is(report.totals.unsizedShare, gets.filter((e) => e.bytes === undefined).length / gets.length);

  // Per mirror: redirects, egress, unsized share, price and cost at its own (or the default) price.
  t.is(report.cost.byMirror.length, 4);
  for (const row of report.cost.byMirror) {
    const mine = ENTRIES.filter((e) => isRedirect(e) && e.mirror === row.name);
    const myGets = mine.filter((e) => e.method === 'GET');
    const bytes = sum(myGets.map((e) => e.bytes ?? 0));
    t.like(row, { requests: mine.length, redirects: mine.length, getRedirects: myGets.length, bytes, unsizedShare: myGets.filter((e) => e.bytes === undefined).length / myGets.length, pricePerGB: PRICE[row.name] });
    t.is(row.cost, (bytes / GB) * PRICE[row.name]!, row.name);
  }
  const costs = report.cost.byMirror.map((r) => r.cost!);
  t.deepEqual(
    costs,
    [...costs].sort((a, b) => b - a),
  );
  t.true(Math.abs(report.totals.cost! - sum(costs)) < 1e-9);

  // Per country and continent: all requests, and egress costed at each mirror's price.
  for (const row of report.cost.byCountry) {
    const mine = ENTRIES.filter((e) => (e.country ?? 'unknown') === row.name);
    const cost = sum(mine.filter(isGetRedirect).map((e) => ((e.bytes ?? 0) / GB) * PRICE[e.mirror!]!));
    t.is(row.requests, mine.length, row.name);
    t.is(row.bytes, sum(mine.filter(isGetRedirect).map((e) => e.bytes ?? 0)), row.name);
    t.true(Math.abs(row.cost! - cost) < 1e-9, row.name);
  }
  t.deepEqual(report.cost.byCountry.map((r) => r.name).sort(), ['BR', 'DE', 'GB', 'JP', 'US', 'unknown']);
  t.deepEqual(
    Object.fromEntries(report.cost.byContinent.map((r) => [r.name, r.requests])),
    Object.fromEntries(['EU', 'NA', 'AS', 'SA', 'unknown'].map((c) => [c, ENTRIES.filter((e) => (e.continent ?? 'unknown') === c).length])),
  );

  // Reachability: shares per country, the top mirror, and BR flagged as served by default.
  for (const row of report.reachability.countries) {
    const mine = ENTRIES.filter((e) => (e.country ?? 'unknown') === row.country);
    const share = (f: (e: AccessLogEntry) => boolean) => mine.filter(f).length / mine.length;
    const place = PLACES.find((p) => (p.country ?? 'unknown') === row.country)!;
    t.like(row, {
      requests: mine.length,
      redirectShare: share((e) => e.status >= 300 && e.status < 400),
      okShare: share((e) => e.status === 200),
      clientErrorShare: share((e) => e.status >= 400 && e.status < 500),
      serverErrorShare: share((e) => e.status >= 500),
      unavailableShare: share((e) => e.status === 503),
      topMirror: { name: place.mirror, share: 1 },
      topRegion: { name: place.region, share: 1 },
      note: row.country === 'BR' ? 'served by default' : '',
    });
  }
  t.deepEqual(
    report.reachability.countries.map((r) => r.country),
    ['DE', 'US', 'GB', 'JP', 'BR', 'unknown'],
  );
  t.deepEqual(report.reachability.servedByDefault, ['BR']);

  // Latency: counts exact, quantiles within the documented bound, max exact.
  const sorted = ENTRIES.map((e) => e.ms).sort((a, b) => a - b);
  const exact = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]!;
  t.is(report.latency.overall.count, 3000);
  t.is(report.latency.overall.max, sorted.at(-1)!);
  for (const q of ['p50', 'p90', 'p99'] as const) {
    const truth = exact(Number(q.slice(1)) / 100);
    t.true(Math.abs(report.latency.overall[q]! - truth) <= truth * RELATIVE_ERROR, `${q} ${report.latency.overall[q]} vs ${truth}`);
  }
  t.deepEqual(Object.fromEntries(report.latency.byMirror.map((r) => [r.name, r.count])), Object.fromEntries(report.cost.byMirror.map((r) => [r.name, r.redirects])));
  t.is(sum(report.latency.byRoute.map((r) => r.count)), 3000);
});

test('the text report: aligned tables with totals, the range, flagged countries, malformed lines', async (t) => {
  const { code, out } = await run(['--prices', FILES.prices, FILES.plain, FILES.gz]);
  t.is(code, 0);
  t.regex(out, /range {5}2026-06-01T00:00:00\.000Z \.\. 2026-06-01T00:44:59\.100Z \(44m 59s\)/);
  t.regex(out, /input {5}2 files, 3003 lines: 3000 valid, 3 malformed, 0 outside the time filter/);
  t.regex(out, /\n {2}total +\d+ +\d+ +[\d.]+ GiB +[\d.]+% +\$[\d.]+\n/);
  t.regex(out, /\n {2}BR +SA .*us-bucket 100\.0% +default 100\.0% +100\.0% +served by default\n/);
  t.regex(out, /served by default: BR\n/);
  t.true(out.includes(`${FILES.plain}:10: not JSON`));
  t.true(out.includes(`${FILES.plain}:500: status is not an HTTP status`));
  // Numbers are right-aligned under their header: every row of the mirror table ends its
  // redirects and egress cells at the same column as the header does.
  const mirrorTable = out.split('Cost by mirror\n')[1]!.split('\n\n')[0]!.split('\n');
  t.is(mirrorTable.length, 6, mirrorTable.join('\n')); // header, 4 mirrors, total
  for (const header of ['redirects', 'egress', 'est. cost']) {
    const end = mirrorTable[0]!.indexOf(header) + header.length;
    for (const row of mirrorTable.slice(1)) t.regex(row.slice(end - 1, end + 1), /^\S( |$)/, `${header} in ${row}`);
  }
});

test('--since/--until keep a window; --top cuts tables', async (t) => {
  const since = new Date(T0 + 1000 * 900).toISOString();
  const until = new Date(T0 + 2000 * 900).toISOString();
  const { code, out } = await run(['--json', '--top', '2', '--since', since, '--until', until, FILES.plain, FILES.gz]);
  t.is(code, 0);
  const report = JSON.parse(out) as Report;
  t.is(report.totals.requests, 1000);
  t.is(report.input.filteredOut, 2000);
  t.deepEqual(report.filter, { since, until });
  t.is(report.range.from, since);
  t.is(report.reachability.countries.length, 2);
  t.is(report.rows.countries, 6);
});

test('- reads stdin', async (t) => {
  const text = `${ENTRIES.slice(0, 10)
    .map((e) => JSON.stringify(e))
    .join('\n')}\n`;
  const { code, out } = await run(['--json', '-'], Readable.from([text]));
  t.is(code, 0);
  const report = JSON.parse(out) as Report;
  t.is(report.totals.requests, 10);
  t.deepEqual(report.input.files, ['-']);
});

test('- reads gzip from stdin too (sniffed, not named)', async (t) => {
  const { readFileSync } = await import('node:fs');
  const plain = await run(['--json', FILES.gz]);
  const piped = await run(['--json', '-'], Readable.from([readFileSync(FILES.gz)]));
  t.is(piped.code, 0);
  t.is((JSON.parse(piped.out) as Report).totals.requests, (JSON.parse(plain.out) as Report).totals.requests);
});

test('a truncated gzip keeps the lines before the cut and says where it stopped', async (t) => {
  const { readFileSync } = await import('node:fs');
  const whole = readFileSync(FILES.gz);
  const cut = join(FILES.dir, 'cut.log.gz');
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
  const { code, out } = await run(['--json', cut]);
  t.is(code, 0);
  const report = JSON.parse(out) as Report;
  t.true(report.totals.requests > 0 && report.totals.requests < 1500);
  t.is(report.input.readErrors.length, 1);
  t.regex(report.input.readErrors[0]!.message, /unexpected end of file/);
});

test('exit codes: 1 with no valid lines, 2 for usage errors; --help', async (t) => {
  const junk = join(FILES.dir, 'junk.log');
  writeFileSync(junk, 'nope\n{}\n');
  const none = await run([junk]);
  t.is(none.code, 1);
  t.regex(none.err, /no valid access-log lines/);
  t.regex(none.out, /2 malformed/);
  const empty = join(FILES.dir, 'empty.log');
  writeFileSync(empty, '');
  t.is((await run([empty])).code, 1);

  for (const args of [
    [],
    ['/nonexistent/log'],
    ['--top', 'x', FILES.plain],
    ['--since', 'yesterday', FILES.plain],
    ['--since', '2026-06-02', '--until', '2026-06-01', FILES.plain],
    ['--prices', '/nonexistent', FILES.plain],
    ['--bogus', FILES.plain],
    [FILES.dir],
  ]) {
    const result = await run(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.err, /Usage: artifact-serving report/, args.join(' '));
  }
  const badPrices = join(FILES.dir, 'bad-prices.yaml');
  writeFileSync(badPrices, 'eu: cheap\n');
  t.regex((await run(['--prices', badPrices, FILES.plain])).err, /price of "eu" must be a number/);

  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /^Usage: artifact-serving report/);
});
