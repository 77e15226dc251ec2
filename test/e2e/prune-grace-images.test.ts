// Deletion without broken pulls (issue 9 item 4) with real docker-registry mirrors and skopeo: a
// pull loop of a kept and a pruned image through `serve` (trust.expected naming the ledger, synced
// out of the origin registry as an operator would) while `promote --prune --confirm --prune-grace`
// runs. The kept image never fails; the pruned one comes from the origin once retiring, then the
// origin's MANIFEST_UNKNOWN, never a redirect to a mirror that answers 404.
import test from 'ava';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/oci/client.js';
import { readRegistryLedger } from '../../src/promoter/registry-ledger.js';
import { writeConfig } from '../helpers/config.js';
import { buildMultiArchImage, pushImage } from '../helpers/image.js';
import { requireTool, skopeo, startRegistry } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const PROJECT = 'k8s-staging-app';

test('promote --prune of one image under a skopeo pull loop: zero failed pulls of the kept image', async (t) => {
  t.timeout(300_000);
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  const [staging, origin, eu] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), origin.stop(), eu.stop()]));
  const dir = tempDir('artifact-serving-prune-grace-images-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const keep = await buildMultiArchImage(join(dir, 'keep'), { seed: 'prune-keep', tag: 'v1' });
  const old = await buildMultiArchImage(join(dir, 'old'), { seed: 'prune-old', tag: 'v1' });
  await pushImage(keep, staging.host, `${PROJECT}/keep`, 'v1');
  await pushImage(old, staging.host, `${PROJECT}/old`, 'v1');
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'images', PROJECT), { recursive: true });
  await writeFile(join(manifests, 'manifests', PROJECT, 'promoter-manifest.yaml'), `registries:\n- name: ${staging.host}/${PROJECT}\n  src: true\n- name: ${origin.host}/prod\n- name: ${eu.host}/prod\n`);
  const images = (list: [string, string][]) => writeFile(join(manifests, 'images', PROJECT, 'images.yaml'), list.map(([name, digest]) => `- name: ${name}\n  dmap:\n    "${digest}": ["v1"]\n`).join(''));
  await images([
    ['keep', keep.indexDigest],
    ['old', old.indexDigest],
  ]);
  const first = await runCli(['promote', manifests, '--confirm']);
  t.is(first.code, 0, first.stderr);

  // The operator's sync: the origin's ledger artifact copied to a file the redirector reads.
  const ledgerFile = join(dir, 'ledger.json');
  const client = new RegistryClient(origin.host);
  let synced = '';
  const sync = async () => {
    const text = await readRegistryLedger(client, `${origin.host}/prod`, `images/${PROJECT}`).catch(() => undefined);
    if (text === undefined || text === synced) return;
    await writeFile(`${ledgerFile}.tmp`, text);
    await rename(`${ledgerFile}.tmp`, ledgerFile);
    synced = text;
  };
  await sync();
  t.regex(synced, /"old"/);
  let syncing = true;
  const syncLoop = (async () => {
    while (syncing) {
      await sync();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  t.teardown(() => {
    syncing = false;
    return syncLoop;
  });

  const config = writeConfig(`
health: { checkTimeoutMs: 5000 }
mirrors:
  eu-reg: { registry: ${eu.url}, repository: prod }
  origin-reg: { registry: ${origin.url}, repository: prod }
routes:
  - prefix: /v2/
    default: eu-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, ledgers: ${ledgerFile}, root: prod }
`);
  const redirector = await startRedirectorProcess(config);
  t.teardown(() => redirector.stop());
  const host = new URL(redirector.url).host;

  const pull = async (repo: string): Promise<string | undefined> => {
    const out = tempDir('artifact-serving-pulled-');
    try {
      const r = await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${host}/${repo}:v1`, `oci:${out}:v1`], { allowFail: true, timeoutMs: 90_000 });
      return r.code === 0 ? undefined : r.stderr.trim().split('\n').at(-1);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  };
  /** Where the redirector sends a tag request, and what that place answers. */
  const where = async (repo: string): Promise<{ mirror: string | null; status: number }> => {
    const r = await fetch(`${redirector.url}/v2/${repo}/manifests/v1`, { method: 'HEAD', redirect: 'manual', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    const location = r.headers.get('location');
    if (!location) return { mirror: null, status: r.status };
    const there = await fetch(location, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    return { mirror: r.headers.get('x-artifact-mirror'), status: there.status };
  };
  t.is(await pull('keep'), undefined);
  t.is(await pull('old'), undefined);
  t.like(await where('old'), { mirror: 'eu-reg', status: 200 }, 'the mirror serves the image before the prune');

  const keepErrors: string[] = [];
  const oldErrors: string[] = [];
  const oldWhere: { mirror: string | null; status: number }[] = [];
  let keepPulls = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const k = await pull('keep');
      keepPulls++;
      if (k) keepErrors.push(k);
      const o = await pull('old');
      if (o) oldErrors.push(o);
      oldWhere.push(await where('old'));
    }
  })();
  await images([['keep', keep.indexDigest]]);
  const from = redirector.stderr().length;
  const pruned = await runCli(['promote', manifests, '--confirm', '--prune', '--prune-grace', '5s']);
  t.is(pruned.code, 0, pruned.stderr);
  t.regex(pruned.stdout, /waiting: .*: 5s of prune grace/);
  t.regex(pruned.stdout, new RegExp(`done: ${eu.host}/prod: delete old@`));
  await redirector.waitForLog(/retired objects: availability answers dropped/, 30_000, from);
  const seen = oldWhere.length;
  while (oldWhere.length < seen + 2) await new Promise((resolve) => setTimeout(resolve, 50));
  stop = true;
  await loop;

  t.log(`${keepPulls} pulls of each; the pruned image failed ${oldErrors.length}: ${[...new Set(oldErrors)].join(' | ')}`);
  t.true(keepPulls >= 3);
  t.deepEqual(keepErrors, [], 'zero failed pulls of the kept image');
  t.deepEqual(
    oldWhere.filter((w) => w.mirror === 'eu-reg' && w.status !== 200),
    [],
    'never a redirect to a mirror that answers 404',
  );
  t.true(
    oldWhere.some((w) => w.mirror === 'origin-reg' && w.status === 200),
    'served from the origin during the grace',
  );
  t.like(oldWhere.at(-1), { mirror: 'origin-reg', status: 404 }, 'then the origin says it is gone');
  for (const e of oldErrors) t.regex(e, /manifest unknown/i);
});
