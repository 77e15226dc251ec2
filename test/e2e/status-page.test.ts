// The status page in a real browser (Debian's chromium driven by playwright-core): it shows
// which mirrors are up and which are down, and why.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../helpers/browser.js';
import { writeConfig } from '../helpers/config.js';
import { refusedPort, requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

let mirror: Peer;
let redirector: RedirectorProcess;

test.before(async () => {
  requireTool('chromium', 'chromium');
  requireTool('nginx', 'nginx');
  mirror = await startNginx();
  writeFileSync(join(mirror.dir, 'healthz.txt'), 'ok\n');
  const closedPort = await refusedPort();
  // A generous probe timeout: on a loaded machine 250 ms took the healthy mirror down now and then.
  const probe = '{ path: /healthz.txt, intervalSeconds: 0.1, timeoutMs: 3000, rise: 1, fall: 2 }';
  const config = writeConfig(`
mirrors:
  healthy: { url: ${mirror.url}, probe: ${probe} }
  gone: { url: http://127.0.0.1:${closedPort}, probe: ${probe} }
routes:
  - prefix: /files
    regions: { Europe: gone }
    default: healthy
`);
  redirector = await startRedirectorProcess(config);
  await redirector.waitForLog(/"mirror":"gone","up":false[^\n]*"msg":"mirror down"/);
});

test.after.always(async () => {
  await redirector?.stop();
  await mirror?.stop();
});

test('the status page shows each mirror’s state, in a browser', async (t) => {
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const response = await page.goto(`${redirector.url}/-/status`);
  t.is(response?.status(), 200);
  t.is(await page.title(), 'artifact-serving status: 1 down');
  t.is((await page.locator('.summary').textContent())?.trim(), '1 of 2 mirrors down.');
  t.is(await page.locator('tr[data-mirror="healthy"] .state').textContent(), 'up');
  t.is(await page.locator('tr[data-mirror="gone"] .state').textContent(), 'down');
  t.regex((await page.locator('tr[data-mirror="gone"]').textContent()) ?? '', /ECONNREFUSED|connect|refused|fetch failed/i);
  await page.screenshot({ path: process.env.STATUS_SCREENSHOT ?? join(tempDir('status-page-'), 'status.png'), fullPage: true });
});

test('the same data as JSON', async (t) => {
  const report = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { mirrors: { name: string; up: boolean }[]; routes: { prefix: string }[] };
  t.deepEqual(
    report.mirrors.map((m) => [m.name, m.up]),
    [
      ['healthy', true],
      ['gone', false],
    ],
  );
  t.deepEqual(
    report.routes.map((r) => r.prefix),
    ['/files'],
  );
});
