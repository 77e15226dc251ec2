// Deletion without broken pulls (issue 9 item 4), end to end with real nginx mirrors: a pull loop
// through `serve` (trust.expected naming the production ledger) while `promote --prune --confirm
// --prune-grace` deletes one file. The kept file never fails; the pruned one is served from the
// origin once the ledger marks it retiring, and ends as the origin's clean 404, never a redirect
// to a mirror that answers 404.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeConfig } from '../helpers/config.js';
import { writeRandomFile } from '../helpers/image.js';
import { requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const PROJECT = 'k8s-staging-bins';
const KEEP = 'v1/keep.bin';
const OLD = 'v1/old.bin';

interface Pull {
  file: string;
  mirror: string | null;
  status: number;
  ok: boolean;
  at: number;
}

let dir: string;
const nginx: Peer[] = [];

test.after.always(async () => {
  await Promise.all(nginx.map((p) => p.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('promote --prune under a pull loop: zero failed pulls of the kept file, the pruned one from the origin until gone', async (t) => {
  t.timeout(180_000);
  requireTool('nginx', 'nginx');
  dir = tempDir('artifact-serving-prune-grace-');
  const staging = join(dir, 'staging');
  const sums: Record<string, string> = { [KEEP]: await writeRandomFile(join(staging, KEEP), 300_000, KEEP), [OLD]: await writeRandomFile(join(staging, OLD), 200_000, OLD) };
  const prod = { origin: join(dir, 'prod-origin'), eu: join(dir, 'prod-eu') };
  for (const p of Object.values(prod)) {
    await mkdir(p, { recursive: true });
    nginx.push(await startNginx({ root: p }));
  }
  const [origin, eu] = nginx as [Peer, Peer];
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(
    join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'),
    `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${pathToFileURL(prod.origin).href}/\n- base: ${pathToFileURL(prod.eu).href}/\n`,
  );
  const release = (files: string[]) => writeFile(join(manifests, 'manifests', PROJECT, 'release.yaml'), `files:\n${files.map((f) => `- name: ${f}\n  sha256: ${sums[f]}\n`).join('')}`);
  await release([KEEP, OLD]);
  const first = await runCli(['promote', manifests, '--confirm']);
  t.is(first.code, 0, first.stderr);

  // The redirector reads the origin destination's ledger (a single file: reloaded on change).
  const ledgerDir = join(prod.origin, '.artifact-serving', 'ledger');
  const ledgerFiles = (await readdir(ledgerDir)).filter((f) => f.endsWith('.json'));
  t.is(ledgerFiles.length, 1);
  const config = writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  eu-files: { url: ${eu.url} }
  origin-files: { url: ${origin.url} }
routes:
  - prefix: /releases
    default: eu-files
    origin: origin-files
trust:
  expected:
    - { route: /releases, ledgers: ${join(ledgerDir, ledgerFiles[0]!)} }
`);
  const redirector = await startRedirectorProcess(config);
  t.teardown(() => redirector.stop());

  const pull = async (file: string): Promise<Pull> => {
    const at = Date.now();
    const r = await fetch(`${redirector.url}/releases/${file}`, { redirect: 'manual' });
    await r.body?.cancel();
    const mirror = r.headers.get('x-artifact-mirror');
    const location = r.headers.get('location');
    if (!location) return { file, mirror, status: r.status, ok: false, at };
    const got = await fetch(location);
    const bytes = Buffer.from(await got.arrayBuffer());
    const ok = got.status === 200 && createHash('sha256').update(bytes).digest('hex') === sums[file];
    return { file, mirror, status: got.status, ok, at };
  };
  // Before the prune both go to the mirror (its availability cached as present).
  for (const f of [KEEP, OLD]) t.like(await pull(f), { mirror: 'eu-files', ok: true }, f);

  const pulls: Pull[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) pulls.push(await pull(KEEP), await pull(OLD));
  })();
  await release([KEEP]);
  const from = redirector.stderr().length;
  const pruneStarted = Date.now();
  const pruned = await runCli(['promote', manifests, '--confirm', '--prune', '--prune-grace', '3s']);
  const pruneDone = Date.now();
  t.is(pruned.code, 0, pruned.stderr);
  t.regex(pruned.stdout, /waiting: .*prod-eu\/: 3s of prune grace/);
  t.regex(pruned.stdout, new RegExp(`done: .*prod-origin/: delete ${OLD}`));
  // The final ledger reloaded: what the mirror cached about the deleted file is dropped.
  await redirector.waitForLog(/retired objects: availability answers dropped/, 30_000, from);
  const afterReload = pulls.length;
  while (pulls.length < afterReload + 10) await new Promise<void>((resolve) => setImmediate(resolve));
  stop = true;
  await loop;

  const keep = pulls.filter((p) => p.file === KEEP);
  const old = pulls.filter((p) => p.file === OLD);
  t.log(`${keep.length} pulls of the kept file, ${old.length} of the pruned one, prune took ${pruneDone - pruneStarted}ms`);
  t.deepEqual(
    keep.filter((p) => !p.ok),
    [],
    'zero failed pulls of the kept file',
  );
  t.true(
    keep.every((p) => p.mirror === 'eu-files'),
    'the kept file stays on the mirror',
  );
  t.deepEqual(
    old.filter((p) => p.mirror === 'eu-files' && !p.ok),
    [],
    'never a redirect to a mirror that answers 404',
  );
  t.true(
    old.every((p) => p.ok || (p.mirror === 'origin-files' && p.status === 404)),
    'the pruned file: its bytes, or the origin’s 404',
  );
  t.true(
    old.some((p) => p.mirror === 'origin-files' && p.ok),
    'served from the origin during the grace',
  );
  t.like(old.at(-1), { mirror: 'origin-files', status: 404 }, 'and gone at the end');
});
