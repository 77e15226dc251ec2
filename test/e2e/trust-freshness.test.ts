// Freshness end to end (issue 9): `promote --confirm` stamps each file's promotion time in the
// ledger in production; `serve`, reading that ledger as expected content, audits a real nginx
// mirror that syncs later, and shows how far it is behind on /-/status, /-/status.json,
// ?mirrorlist and /metrics, then the lag once it has synced; `report` shows the same from the
// audit lines in the access log, and its request figures ignore them.
import test from 'ava';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../helpers/browser.js';
import { writeConfig } from '../helpers/config.js';
import { writeRandomFile } from '../helpers/image.js';
import { requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const PROJECT = 'k8s-staging-bins';
let dir: string;
let staging: string;
let prod: string;
let mirrorDir: string;
let manifests: string;
const peers: Peer[] = [];

async function release(names: string[]): Promise<void> {
  const lines: string[] = [];
  for (const name of names) lines.push(`- name: ${name}\n  sha256: ${await writeRandomFile(join(staging, name), 4096, name)}\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'release.yaml'), `files:\n${lines.join('')}`);
  const promoted = await runCli(['promote', manifests, '--confirm']);
  if (promoted.code !== 0) throw new Error(`promote failed: ${promoted.stdout}${promoted.stderr}`);
}

test.before(async () => {
  requireTool('nginx', 'nginx');
  requireTool('chromium', 'chromium');
  dir = tempDir('artifact-serving-trust-fresh-');
  staging = join(dir, 'staging');
  prod = join(dir, 'prod');
  mirrorDir = join(dir, 'mirror');
  manifests = join(dir, 'manifests');
  for (const d of [staging, prod, mirrorDir, join(manifests, 'filestores', PROJECT), join(manifests, 'manifests', PROJECT)]) await mkdir(d, { recursive: true });
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${pathToFileURL(prod).href}/\n`);
  peers.push(await startNginx({ root: prod }), await startNginx({ root: mirrorDir }));
});

test.after.always(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a mirror behind production: objects behind and the oldest lag, then the lag once it syncs', async (t) => {
  t.timeout(240_000);
  await release(['v1/a.txt']);
  const ledger = JSON.parse(await readFile(join(prod, '.artifact-serving/ledger', `files--${PROJECT}.json`), 'utf8')) as { promoted?: Record<string, string> };
  t.truthy(ledger.promoted?.['v1/a.txt'], 'promote stamps the promotion time in the ledger');
  await cp(join(prod, 'v1'), join(mirrorDir, 'v1'), { recursive: true });

  const [origin, mirror] = peers as [Peer, Peer];
  const log = join(dir, 'access.log');
  const config = writeConfig(`
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-files: { url: ${mirror.url} }
  origin-files: { url: ${origin.url} }
routes:
  - { prefix: /releases, default: eu-files, origin: origin-files }
trust:
  expected:
    - { route: /releases, ledgers: ${join(prod, '.artifact-serving/ledger')} }
  audit: { requestsPerSecond: 200, intervalSeconds: 1 }
`);
  const redirector = await startRedirectorProcess(config, ['--access-log', log]);
  t.teardown(() => redirector.stop());
  await redirector.waitForLog(/audit finished/, 60_000);
  type Status = { mirrors: { name: string; freshness?: { behind: number; oldestLagSeconds: number; medianLagSeconds?: number } }[] };
  const freshness = async () => ((await (await fetch(`${redirector.url}/-/status.json`)).json()) as Status).mirrors.find((m) => m.name === 'eu-files')?.freshness;
  t.like(await freshness(), { behind: 0, oldestLagSeconds: 0 });

  // A second file reaches production; the mirror has not synced it yet.
  await release(['v1/a.txt', 'v1/b.txt']);
  const promotedAt = Date.parse((JSON.parse(await readFile(join(prod, '.artifact-serving/ledger', `files--${PROJECT}.json`), 'utf8')) as { promoted: Record<string, string> }).promoted['v1/b.txt']!);
  let from = redirector.stderr().length;
  redirector.child.kill('SIGHUP');
  await redirector.waitForLog(/expected content loaded/, 30_000, from);
  from = redirector.stderr().length;
  await redirector.waitForLog(/audit finished/, 60_000, from);
  const behind = await freshness();
  t.is(behind?.behind, 1);
  t.true((behind?.oldestLagSeconds ?? 0) > 0);
  const list = (await (await fetch(`${redirector.url}/releases/v1/a.txt?mirrorlist`, { headers: { 'X-Forwarded-For': '10.0.0.1' } })).json()) as { mirrors: { mirror: string; freshness?: { behind: number } }[] };
  t.is(list.mirrors.find((m) => m.mirror === 'eu-files')?.freshness?.behind, 1, '?mirrorlist says the mirror is behind');
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${redirector.url}/-/status`);
  t.regex((await page.locator('tr[data-mirror="eu-files"] .freshness').textContent()) ?? '', /^1 behind, oldest \d+ s$/, 'the status page, in a browser');
  const metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  t.regex(metrics, /artifact_trust_objects_behind\{mirror="eu-files"\} 1/);
  t.regex(metrics, /artifact_trust_oldest_lag_seconds\{mirror="eu-files"\} [1-9]?\d*\.?\d*/);

  // The mirror syncs: the next pass sees the file and measures its lag from the promotion.
  await cp(join(prod, 'v1'), join(mirrorDir, 'v1'), { recursive: true });
  const syncedAt = Date.now();
  from = redirector.stderr().length;
  await redirector.waitForLog(/audit finished[\s\S]*audit finished/, 60_000, from);
  const synced = await freshness();
  t.is(synced?.behind, 0);
  const lag = synced?.medianLagSeconds ?? -1;
  t.true(lag >= (syncedAt - promotedAt) / 1000 - 0.5 && lag < 120, `measured lag ${lag}s, synced ${(syncedAt - promotedAt) / 1000}s after promotion`);
  await page.reload();
  t.regex((await page.locator('tr[data-mirror="eu-files"] .freshness').textContent()) ?? '', /^up to date; median lag \d+ s$/);
  await redirector.stop();

  const report = await runCli(['report', log]);
  t.is(report.code, 0, report.stderr);
  t.regex(report.stdout, /Mirror freshness \(background audit, \d+ audit lines\)/);
  t.regex(report.stdout, /\n {2}eu-files +0 +0\.0s +\d+\.\ds +1 /);
  // Audit lines are not requests: only the mirror list and the browser's (favicon) were.
  const json = JSON.parse((await runCli(['report', '--json', log])).stdout) as { input: { lines: number; valid: number; auditLines?: number }; totals: { requests: number }; freshness: { mirror: string }[] };
  t.true((json.input.auditLines ?? 0) >= 3);
  t.is(json.input.lines, json.input.valid + json.input.auditLines!);
  t.is(json.totals.requests, json.input.valid);
  t.deepEqual(
    json.freshness.map((f) => f.mirror),
    ['eu-files'],
  );
});
