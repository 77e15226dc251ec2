// `explain` on a route with an origin runs the availability checks serve runs, against real nginx
// mirrors, so what it prints is where serve sends the client; --offline says what it would check.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirector, type InProcessRedirector } from '../helpers/redirector.js';
import { createMirrorState } from '../../src/mirrors/config-to-state.js';
import { loadConfigFile } from '../../src/config/load.js';

let eu: Peer;
let lagging: Peer;
let origin: Peer;
let config: string;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test.before(async () => {
  requireTool('nginx', 'nginx');
  [eu, lagging, origin] = await Promise.all([startNginx(), startNginx(), startNginx()]);
  for (const peer of [eu, origin]) {
    await mkdir(join(peer.dir, 'v1'), { recursive: true });
    await writeFile(join(peer.dir, 'v1/tool'), 'tool bytes\n');
  }
  // The lagging mirror has not received v1/tool yet.
  config = writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  eu-files: { url: ${eu.url} }
  lagging: { url: ${lagging.url} }
  origin-files: { url: ${origin.url} }
routes:
  - prefix: /downloads
    regions: { GB: lagging, Europe: eu-files }
    default: origin-files
    origin: origin-files
`);
});

test.after.always(async () => {
  await Promise.all([eu?.stop(), lagging?.stop(), origin?.stop()]);
});

test.serial('explain checks availability as serve does and names the same mirror', async (t) => {
  const result = await run(['explain', '--config', config, '--ip', '81.2.69.160', '/downloads/v1/tool']);
  t.is(result.code, 0, result.err);
  t.regex(result.out, /skipped\s+lagging\s+\[region GB\]\s+does not have it \(HTTP 404\)/);
  t.regex(result.out, /chosen\s+eu-files\s+\[region Europe\]/);
  t.regex(result.out, new RegExp(`decision\\s+302 -> ${eu.url}/v1/tool`));
  t.regex(result.out, new RegExp(`checks\\s+HEAD ${lagging.url}/v1/tool -> absent \\(HTTP 404\\)`));
  t.notRegex(result.out, /did not answer in time/);
  // A mirror list makes the same checks: the lagging mirror is listed as lacking the file.
  const list = await run(['explain', '--config', config, '--ip', '81.2.69.160', '/downloads/v1/tool?mirrorlist']);
  t.regex(list.out, /skipped lagging\s+\[region GB\]\s+does not have it \(HTTP 404\)/);
  t.regex(list.out, new RegExp(`usable  eu-files\\s+\\[region Europe\\]\\s+${eu.url}/v1/tool`));

  // serve, with the live state it runs with, sends the same client to the same mirror.
  const loaded = loadConfigFile(config);
  if (!loaded.ok) return t.fail('config');
  const state = createMirrorState(loaded.config);
  let redirector: InProcessRedirector | undefined;
  try {
    redirector = await startRedirector(config, state);
    const response = await fetch(`${redirector.url}/downloads/v1/tool`, { redirect: 'manual', headers: { 'X-Forwarded-For': '81.2.69.160' } });
    t.is(response.status, 302);
    t.is(response.headers.get('location'), `${eu.url}/v1/tool`);
  } finally {
    await redirector?.close();
    await state.stop();
  }
});

test.serial('explain --offline makes no check and says what serve would check', async (t) => {
  const result = await run(['explain', '--config', config, '--ip', '81.2.69.160', '--offline', '/downloads/v1/tool']);
  t.is(result.code, 0, result.err);
  t.regex(result.out, new RegExp(`skipped\\s+lagging\\s+\\[region GB\\]\\s+availability not checked \\(--offline\\): serve would HEAD ${lagging.url}/v1/tool`));
  t.regex(result.out, /chosen\s+origin-files/);
  t.regex(result.out, /offline: no availability checks were made/);
  const json = await run(['explain', '--config', config, '--ip', '81.2.69.160', '--offline', '--json', '/downloads/v1/tool']);
  const parsed = JSON.parse(json.out) as { checks: { mirror: string; url: string; result: string }[] };
  t.deepEqual(
    parsed.checks.map((c) => [c.mirror, c.result]),
    [
      ['lagging', 'not checked (--offline)'],
      ['eu-files', 'not checked (--offline)'],
    ],
  );
  const list = await run(['explain', '--config', config, '--ip', '81.2.69.160', '--offline', '/downloads/v1/tool.meta4']);
  t.regex(list.out, new RegExp(`skipped eu-files\\s+\\[region Europe\\]\\s+availability not checked \\(--offline\\): serve would HEAD ${eu.url}/v1/tool`));
});
