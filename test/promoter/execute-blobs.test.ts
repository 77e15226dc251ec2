// Two projects filling one blob bucket (issue 13), as registry.k8s.io's projects share theirs: a
// blob written for one project is verified and adopted by the other, not copied again; prune of
// one project keeps a blob the other still needs; a --project run does not prune a shared bucket;
// a signature pushed to staging after promotion brings its blobs on the next run.
import test from 'ava';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backends } from '../../src/promoter/backends.js';
import { blobKey } from '../../src/promoter/blob-buckets.js';
import { ledgerObjectName, parseLedger } from '../../src/promoter/ledger.js';
import { promote } from '../../src/promoter/promote.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { captureIo } from '../helpers/io.js';
import { tree } from './fixtures.js';
import { MemoryRegistry } from './memory-registry.js';
import { tempDir } from '../helpers/temp-dir.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

test('a shared blob is adopted, not copied twice, and survives the other project’s prune', async (t) => {
  const staging = new MemoryRegistry('staging.test');
  const image = (project: string, own: string) => {
    const repo = `${project}/app`;
    const shared = staging.addBlob(repo, Buffer.from('shared base layer'));
    const layer = staging.addBlob(repo, Buffer.from(own));
    const config = staging.addBlob(repo, Buffer.from(`{"own":"${own}"}`));
    const m = staging.addManifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [shared, layer] }, ['v1']);
    return { digest: m.digest, shared: shared.digest, own: [layer.digest, config.digest] };
  };
  const x = image('k8s-staging-x', 'x only');
  const y = image('k8s-staging-y', 'y only');
  const bucketDir = tempDir('blob-bucket-');
  t.teardown(() => rm(bucketDir, { recursive: true, force: true }));
  const bucket = `${pathToFileURL(bucketDir).href}/`;
  const files: Record<string, string> = {};
  for (const [p, d] of [
    ['k8s-staging-x', x.digest],
    ['k8s-staging-y', y.digest],
  ] as const) {
    files[`manifests/${p}/promoter-manifest.yaml`] = `registries:\n- name: staging.test/${p}\n  src: true\n- name: ${bucket}\n`;
    files[`images/${p}/images.yaml`] = `- name: app\n  dmap:\n    "${d}": ["v1"]\n`;
  }
  const { dir, cleanup } = await tree(files);
  t.teardown(cleanup);
  const stores = new Map<string, FsStore>();
  const backends = {
    registry: () => staging,
    store: (base: string) => stores.get(base) ?? stores.set(base, new FsStore(base)).get(base),
  } as unknown as Backends;
  const run = async (opts: { project?: string; prune?: boolean }) => {
    const { out, io } = captureIo();
    const r = await promote({ dir, confirm: true, prune: opts.prune ?? false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 }, project: opts.project, pruneGraceMs: 0 }, backends, io);
    return { ...r, ...out };
  };
  const ledger = async (p: string) => parseLedger(await readFile(join(bucketDir, ledgerObjectName(`images/${p}`)), 'utf8'));

  const first = await run({ project: 'k8s-staging-x' });
  t.is(first.exitCode, 0, first.stdout + first.stderr);
  t.regex(first.stdout, /copy-file 3;/);
  const both = await run({});
  t.is(both.exitCode, 0, both.stdout + both.stderr);
  // y copies only its own two blobs; the shared one was verified in place and adopted.
  t.regex(both.stdout, new RegExp(`images/k8s-staging-y[^]*-> ${bucket}: copy-file 2;`));
  t.deepEqual([...(await ledger('k8s-staging-y')).files.keys()].sort(), [y.shared, ...y.own].map(blobKey).sort());

  // A signature pushed to staging after promotion: its blobs follow on the next run.
  const sigRepo = 'k8s-staging-y/app';
  const payload = staging.addBlob(sigRepo, Buffer.from('{"critical":{}}'));
  const sigConfig = staging.addBlob(sigRepo, Buffer.from('{}'));
  staging.addManifest(sigRepo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: sigConfig, layers: [payload] }, [`sha256-${y.digest.slice(7)}.sig`]);
  const signed = await run({});
  t.is(signed.exitCode, 0, signed.stdout + signed.stderr);
  t.regex(signed.stdout, new RegExp(`images/k8s-staging-y[^]*-> ${bucket}: copy-file 2;`));
  for (const b of [payload.digest, sigConfig.digest]) t.truthy(await stat(join(bucketDir, blobKey(b))));

  // x drops its image: a --project run refuses to prune the shared bucket; a whole run deletes only x's own blobs.
  await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'images/k8s-staging-x/images.yaml'), '[]\n'));
  const limited = await run({ project: 'k8s-staging-x', prune: true });
  t.is(limited.exitCode, 1);
  t.regex(limited.stdout, /prune-blocked: .*not pruned in a run limited to some projects \(--project\)/);
  const pruned = await run({ prune: true });
  t.is(pruned.exitCode, 0, pruned.stdout + pruned.stderr);
  for (const b of x.own) await t.throwsAsync(stat(join(bucketDir, blobKey(b))));
  for (const b of [y.shared, ...y.own, payload.digest]) t.truthy(await stat(join(bucketDir, blobKey(b))));
  // x's ledger still lists the blob it shares (not deleted: y needs it); nothing is left to prune.
  t.deepEqual([...(await ledger('k8s-staging-x')).files.keys()], [blobKey(y.shared)]);
  const again = await run({ prune: true });
  t.regex(again.stdout, /Nothing to do/);
});
