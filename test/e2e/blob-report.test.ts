// End to end: egress per blob bucket (issue 13). The real redirector sends two clients' blob
// downloads to two buckets (local HTTP servers answering the availability HEAD with the blob's
// size), a blob one bucket lacks to the registry; `report` on its access log then gives each
// bucket exactly the bytes of the blobs sent there, the cost question answered from logs.
import test from 'ava';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Report } from '../../src/report/build.js';
import { BYTES_PER_GB } from '../../src/report/prices.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A blob digest whose last hex digits give its size, so a bucket can answer HEADs without content. */
const digestOfSize = (size: number) => `sha256:${size.toString(16).padStart(64, '0')}`;

/** Buckets /a and /b holding `containers/images/<digest>` of every size, except b lacks size 777. */
async function startBuckets() {
  const server = createServer((req, res) => {
    const match = /^\/([ab])\/containers\/images\/sha256:([0-9a-f]{64})$/.exec(req.url ?? '');
    const size = match ? Number.parseInt(match[2]!, 16) : undefined;
    if (!match || size === undefined || (match[1] === 'b' && size === 777)) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': String(size) }).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

test('report shows the egress of each blob bucket from the real redirector’s access log', async (t) => {
  const buckets = await startBuckets();
  t.teardown(() => buckets.close());
  const config = writeConfig(`trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  bucket-a: { blobs: ${buckets.base}/a }
  bucket-b: { blobs: ${buckets.base}/b }
  registry: { registry: http://127.0.0.1:9, probe: false }
routes:
  - prefix: /v2/
    regions:
      10.1.0.0/16: [bucket-a, registry]
      10.2.0.0/16: [bucket-b, registry]
    default: registry
`);
  const dir = tempDir('blob-report-');
  const log = join(dir, 'access.jsonl');
  const prices = join(dir, 'prices.yaml');
  writeFileSync(prices, 'bucket-a: 0.09\nbucket-b: 0.02\nregistry: 0.12\n');
  const redirector = await startRedirectorProcess(config, ['--access-log', log, '--no-watch']);
  t.teardown(() => redirector.stop());

  const send = async (ip: string, path: string, method = 'GET', range?: string) => {
    const response = await fetch(`${redirector.url}${path}`, { method, redirect: 'manual', headers: { 'X-Forwarded-For': ip, ...(range && { Range: range }) } });
    return `${response.status} ${response.headers.get('x-artifact-mirror') ?? '-'}`;
  };
  // Client A: three layers from bucket a, one of them twice, a HEAD (no bytes move), the rest of a
  // fourth layer (a ranged GET) and the manifest.
  for (const size of [1000, 2000, 3000, 3000]) t.is(await send('10.1.0.5', `/v2/app/blobs/${digestOfSize(size)}`), '307 bucket-a');
  t.is(await send('10.1.0.5', `/v2/app/blobs/${digestOfSize(1000)}`, 'HEAD'), '307 bucket-a');
  // A resumed download: only the rest of the layer moves.
  t.is(await send('10.1.0.5', `/v2/app/blobs/${digestOfSize(4000)}`, 'GET', 'bytes=2500-'), '307 bucket-a');
  t.is(await send('10.1.0.5', '/v2/app/manifests/v1'), '307 registry');
  // Client B: two layers from bucket b; the one b lacks comes from the registry (size unknown there).
  for (const size of [5000, 6000]) t.is(await send('10.2.0.5', `/v2/app/blobs/${digestOfSize(size)}`), '307 bucket-b');
  t.is(await send('10.2.0.5', `/v2/app/blobs/${digestOfSize(777)}`), '307 registry');
  await redirector.stop(); // flushes the access log

  const run = await runCli(['report', '--json', '--prices', prices, log]);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  t.like(report.input, { lines: 10, valid: 10, malformed: 0 });
  const mirror = Object.fromEntries(report.cost.byMirror.map((r) => [r.name, r]));
  const aBytes = 1000 + 2000 + 3000 + 3000 + 1500;
  t.like(mirror['bucket-a'], { redirects: 6, getRedirects: 5, bytes: aBytes, unsizedShare: 0, pricePerGB: 0.09, cost: (aBytes / BYTES_PER_GB) * 0.09 });
  t.like(mirror['bucket-b'], { redirects: 2, getRedirects: 2, bytes: 11_000, unsizedShare: 0, pricePerGB: 0.02, cost: (11_000 / BYTES_PER_GB) * 0.02 });
  // The registry's manifest and fallback blob: no HEAD was made there (no origin), so no size.
  t.like(mirror.registry, { redirects: 2, getRedirects: 2, bytes: 0, unsizedShare: 1 });
  t.is(report.totals.bytes, aBytes + 11_000);
});
