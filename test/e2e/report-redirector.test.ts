// End to end: the real redirector process writes its access log while clients from three
// countries download through it (mirrors are local HTTP servers answering the availability
// HEADs with real sizes); then `report` reads that log and must count exactly what was sent.
import test from 'ava';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/report/build.js';
import { BYTES_PER_GB } from '../../src/report/prices.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const GB_IP = '81.2.69.160';
const US_IP = '8.8.8.8';
const AU_IP = '1.1.1.1';

/** Mirrors on one local server: /eu/... and /us/... hold `file-<size>` (with that Content-Length); eu lacks `missing-eu-*`. */
async function startMirrors() {
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const size = /file-(\d+)$|missing-eu-(\d+)$/.exec(url);
    if (!size || (url.startsWith('/eu/') && url.includes('missing-eu'))) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': size[1] ?? size[2] }).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

test('report counts what the real redirector logged, per country and per mirror', async (t) => {
  const mirrors = await startMirrors();
  t.teardown(() => mirrors.close());
  const config = writeConfig(`trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  eu: { url: ${mirrors.base}/eu }
  us: { url: ${mirrors.base}/us }
  origin: { url: ${mirrors.base}/origin }
routes:
  - prefix: /bin
    regions: { Europe: eu, Americas: us }
    default: us
    origin: origin
`);
  const dir = tempDir('report-e2e-');
  const log = join(dir, 'access.jsonl');
  const prices = join(dir, 'prices.yaml');
  writeFileSync(prices, 'eu: 0.02\nus: 0.1\n');
  const redirector = await startRedirectorProcess(config, ['--access-log', log, '--no-watch']);
  t.teardown(() => redirector.stop());

  const send = async (ip: string, path: string, method = 'GET') => {
    const response = await fetch(`${redirector.url}${path}`, { method, redirect: 'manual', headers: { 'X-Forwarded-For': ip } });
    return `${response.status} ${response.headers.get('x-artifact-mirror') ?? '-'}`;
  };
  // GB: three downloads and a HEAD from eu, one object eu lacks (so the default, us), one bad path.
  for (let i = 0; i < 3; i++) t.is(await send(GB_IP, '/bin/file-1000'), '302 eu');
  t.is(await send(GB_IP, '/bin/file-1000', 'HEAD'), '302 eu');
  t.is(await send(GB_IP, '/bin/missing-eu-500'), '302 us');
  t.is(await send(GB_IP, '/bin/a%2Fb'), '400 -');
  // US: its own region's mirror.
  for (let i = 0; i < 2; i++) t.is(await send(US_IP, '/bin/file-2000'), '302 us');
  // AU: no region of its own, so everything lands on the default.
  for (let i = 0; i < 2; i++) t.is(await send(AU_IP, '/bin/file-3000'), '302 us');
  t.is(await send(AU_IP, '/bin/file-3000', 'HEAD'), '302 us');
  await redirector.stop(); // flushes the access log

  let out = '';
  let err = '';
  const code = await main(['report', '--json', '--prices', prices, log], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  t.is(code, 0, err);
  const report = JSON.parse(out) as Report;
  t.like(report.input, { lines: 11, valid: 11, malformed: 0 });
  t.like(report.totals, { requests: 11, redirects: 10, getRedirects: 8, bytes: 3 * 1000 + 500 + 2 * 2000 + 2 * 3000, unsizedShare: 0 });
  t.deepEqual(report.totals.status, { '2xx': 0, '3xx': 10, '4xx': 1, '5xx': 0, '503': 0 });

  const mirror = Object.fromEntries(report.cost.byMirror.map((r) => [r.name, r]));
  t.like(mirror.eu, { redirects: 4, getRedirects: 3, bytes: 3000, unsizedShare: 0, pricePerGB: 0.02, cost: (3000 / BYTES_PER_GB) * 0.02 });
  t.like(mirror.us, { redirects: 6, getRedirects: 5, bytes: 10_500, unsizedShare: 0, pricePerGB: 0.1, cost: (10_500 / BYTES_PER_GB) * 0.1 });
  t.deepEqual(Object.keys(mirror).sort(), ['eu', 'us']);

  const country = Object.fromEntries(report.reachability.countries.map((r) => [r.country, r]));
  // The refused path (400) is counted against GB too: the redirector locates refused clients.
  t.like(country.GB, { continent: 'EU', requests: 6, redirectShare: 5 / 6, clientErrorShare: 1 / 6, topMirror: { name: 'eu', share: 0.8 }, topRegion: { name: 'Europe', share: 0.8 }, fallbackShare: 0.2, note: '' });
  t.like(country.US, { continent: 'NA', requests: 2, redirectShare: 1, topMirror: { name: 'us', share: 1 }, topRegion: { name: 'Americas', share: 1 }, note: '' });
  t.like(country.AU, { continent: 'OC', requests: 3, redirectShare: 1, topMirror: { name: 'us', share: 1 }, topRegion: { name: 'default', share: 1 }, note: 'served by default' });
  t.is(country.unknown, undefined);
  t.deepEqual(report.reachability.servedByDefault, ['AU']);
  const bytesOf = Object.fromEntries(report.cost.byCountry.map((r) => [r.name, r.bytes]));
  t.deepEqual(bytesOf, { GB: 3500, US: 4000, AU: 6000 });
  t.is(report.latency.overall.count, 11);
  t.is(report.latency.byMirror.find((r) => r.name === 'eu')!.count, 4);
});
