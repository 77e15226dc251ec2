// Mirror trust for files, end to end (issue 9): `promote --confirm` copies release files into three
// folders served by real nginx mirrors and writes each one's ownership token; then one mirror
// loses a file, one has a file's bytes altered, one loses its token. `audit` names each problem,
// and `serve` with the background audit sends no client to any of them.
import test from 'ava';
import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { OWNERSHIP_KEY_ENV } from '../../src/trust/ownership.js';
import { writeConfig } from '../helpers/config.js';
import { writeRandomFile } from '../helpers/image.js';
import { requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEY = 'files-ownership-key-0123456789';
const PROJECT = 'k8s-staging-bins';
const FILES = ['v1/linux/amd64/tool', 'v1/linux/arm64/tool', 'v1/README.txt'];
const CLIENT = { eu: '10.1.0.1', us: '10.2.0.1', ap: '10.3.0.1' };

let dir: string;
const prod: Record<'eu' | 'us' | 'ap' | 'origin', string> = { eu: '', us: '', ap: '', origin: '' };
const nginx: Partial<Record<keyof typeof prod, Peer>> = {};
let manifests: string;

function destination(folder: string): string {
  return `${pathToFileURL(folder).href}/`;
}

function config(audit = ''): string {
  const n = nginx as Record<keyof typeof prod, Peer>;
  return writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  eu-files: { url: ${n.eu.url} }
  us-files: { url: ${n.us.url} }
  ap-files: { url: ${n.ap.url} }
  origin-files: { url: ${n.origin.url} }
routes:
  - prefix: /releases
    regions:
      ${CLIENT.eu}/16: eu-files
      ${CLIENT.ap}/16: ap-files
    default: us-files
    origin: origin-files
trust:
  expected:
    - { route: /releases, manifests: ${manifests} }
  ownership:
    key: ${KEY}
    destinations:
      eu-files: ${destination(prod.eu)}
      us-files: ${destination(prod.us)}
      ap-files: ${destination(prod.ap)}
  audit: { requestsPerSecond: 200, sampleBytes: 100000000${audit} }
`);
}

async function audit(file: string): Promise<{ code: number; lines: string[]; stderr: string }> {
  const { code, stdout, stderr } = await runCli(['audit', '--config', file]);
  return { code, lines: stdout.trim() === '' ? [] : stdout.trim().split('\n'), stderr };
}

test.before(async () => {
  requireTool('nginx', 'nginx');
  dir = tempDir('artifact-serving-trust-files-');
  const staging = join(dir, 'staging', PROJECT);
  const sums: Record<string, string> = {};
  for (const [i, name] of FILES.entries()) sums[name] = await writeRandomFile(join(staging, name), 2000 + i * 50_000, name);
  for (const key of Object.keys(prod) as (keyof typeof prod)[]) {
    prod[key] = join(dir, `prod-${key}`);
    await mkdir(prod[key], { recursive: true });
    nginx[key] = await startNginx({ root: prod[key] });
  }
  manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(
    join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'),
    `filestores:\n- base: ${destination(staging)}\n  src: true\n${Object.values(prod)
      .map((p) => `- base: ${destination(p)}\n`)
      .join('')}`,
  );
  await writeFile(join(manifests, 'manifests', PROJECT, 'release.yaml'), `files:\n${FILES.map((f) => `- name: ${f}\n  sha256: ${sums[f]}\n`).join('')}`);
});

test.after.always(async () => {
  await Promise.all(Object.values(nginx).map((p) => p?.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("promote writes each destination's own token; the audit then finds nothing", async (t) => {
  t.timeout(120_000);
  let stderr = '';
  const before = process.env[OWNERSHIP_KEY_ENV];
  process.env[OWNERSHIP_KEY_ENV] = KEY;
  try {
    const backends = createBackends();
    const result = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4, retry: { attempts: 3, baseMs: 1, maxMs: 5 } }, backends, {
      stdout: () => undefined,
      stderr: (s) => {
        stderr += s;
      },
    });
    backends.close();
    t.is(result.exitCode, 0, stderr);
  } finally {
    if (before === undefined) delete process.env[OWNERSHIP_KEY_ENV];
    else process.env[OWNERSHIP_KEY_ENV] = before;
  }
  t.regex(await readFile(join(prod.eu, '.artifact-serving/owner.json'), 'utf8'), new RegExp(`"destination":"${pathToFileURL(prod.eu).href}"`));
  const clean = await audit(config());
  t.deepEqual(clean.lines, []);
  t.is(clean.code, 0, clean.stderr);
});

test.serial('a lost file, altered bytes and a lost token are found, and serve sends nobody there', async (t) => {
  t.timeout(180_000);
  await unlink(join(prod.eu, FILES[2]!));
  const altered = join(prod.us, FILES[1]!);
  const bytes = await readFile(altered);
  bytes[0] = bytes[0]! ^ 0xff;
  await writeFile(altered, bytes);
  await unlink(join(prod.ap, '.artifact-serving/owner.json'));

  const found = await audit(config());
  t.log(found.lines.join('\n'));
  t.is(found.code, 1);
  t.true(found.lines.includes(`eu-files /releases/${FILES[2]} missing`));
  t.true(found.lines.some((l) => l.startsWith(`us-files /releases/${FILES[1]} bytes differ: sha256 `)));
  t.true(found.lines.includes('ap-files owner ownership token missing'));

  const redirector = await startRedirectorProcess(config(', intervalSeconds: 3600'));
  t.teardown(() => redirector.stop());
  await redirector.waitForLog(/audit finished/, 120_000);
  const where = async (client: string, file: string) => {
    const response = await fetch(`${redirector.url}/releases/${file}`, { redirect: 'manual', headers: { 'X-Forwarded-For': client } });
    await response.body?.cancel();
    return response.headers.get('x-artifact-mirror');
  };
  t.is(await where(CLIENT.eu, FILES[0]!), 'eu-files', 'the mirror serves what it holds');
  t.is(await where(CLIENT.eu, FILES[2]!), 'origin-files', 'but not the file it lost (and the default, us-files, is out)');
  t.is(await where(CLIENT.us, FILES[0]!), 'origin-files', 'altered bytes take the whole mirror out');
  t.is(await where(CLIENT.ap, FILES[0]!), 'origin-files', 'a mirror without its token gets nobody');
  const status = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { mirrors: { name: string; excluded?: string }[] };
  const excluded = Object.fromEntries(status.mirrors.map((m) => [m.name, m.excluded]));
  t.is(excluded['ap-files'], 'ownership token missing');
  t.regex(excluded['us-files'] ?? '', /bytes differ/);
  t.is(excluded['eu-files'], undefined);
  const metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  t.regex(metrics, /artifact_trust_objects_behind\{mirror="eu-files"\} 1/);
  t.regex(metrics, /artifact_trust_excluded\{mirror="ap-files"\} 1/);
});
