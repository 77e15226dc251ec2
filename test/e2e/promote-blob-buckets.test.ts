// Blob buckets end to end (issue 13): a signed two-platform image in a staging docker-registry,
// promoted to a production docker-registry and to three blob buckets (a folder, s3rver, and the
// GCS fake) in registry.k8s.io's layout `containers/images/sha256:<hex>`. Every blob (layers and
// configs of both platforms, the signature's) is at its key with the right sha256; a rerun plans
// and copies nothing; --prune removes exactly the blobs only the dropped image needed.
import test from 'ava';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { blobKey } from '../../src/promoter/blob-buckets.js';
import { references } from '../../src/promoter/copy-image.js';
import { ledgerObjectName, parseLedger } from '../../src/promoter/ledger.js';
import { promote } from '../../src/promoter/promote.js';
import { validateManifests } from '../../src/promoter/validate.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { GcsStore } from '../../src/promoter/stores/gcs.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import type { FileStore } from '../../src/promoter/stores/store.js';
import { sha256OfStream } from '../../src/promoter/verify.js';
import { captureIo } from '../helpers/io.js';
import { buildMultiArchImage, pushImage, pushSignature } from '../helpers/image.js';
import { requireTool, startRegistry } from '../helpers/peers.js';
import { tree } from '../promoter/fixtures.js';
import { startFakeGcs } from '../promoter/gcs-fake.js';
import { startS3 } from '../promoter/s3.js';

const PROJECT = 'k8s-staging-app';

/** Every blob an image's index, platform manifests and signature reference, read back from staging. */
async function blobsOf(client: RegistryClient, repo: string, digest: string): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (ref: string) => {
    const m = await client.getManifest(repo, ref);
    if (!m) throw new Error(`${repo}@${ref} not in staging`);
    const { children, blobs } = references(m);
    for (const b of blobs) out.add(b.digest);
    for (const c of children) await walk(c.digest);
  };
  await walk(digest);
  await walk(`sha256-${digest.slice(7)}.sig`);
  return out;
}

test('every blob of a signed two-platform image reaches a folder, S3 and GCS bucket; reruns are no-ops; prune keeps shared blobs', async (t) => {
  requireTool('skopeo', 'skopeo');
  requireTool('docker-registry', 'docker-registry');
  const [staging, prod, s3, gcs] = await Promise.all([startRegistry(), startRegistry(), startS3(['blobs']), startFakeGcs()]);
  t.teardown(() => Promise.all([staging.stop(), prod.stop(), s3.stop(), gcs.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);

  const repo = `${PROJECT}/app`;
  const digests: string[] = [];
  for (const seed of ['v1', 'v2']) {
    const image = await buildMultiArchImage(join(dir, `img-${seed}`), { seed, tag: seed });
    const d = await pushImage(image, staging.host, repo, seed);
    await pushSignature(staging.host, repo, d);
    digests.push(d);
  }
  const [d1, d2] = digests as [string, string];
  const stagingClient = new RegistryClient(staging.host);
  const need1 = await blobsOf(stagingClient, repo, d1);
  const need2 = await blobsOf(stagingClient, repo, d2);
  // Two platforms (a config and a layer each) and the signature's payload and config.
  t.is(need1.size, 6);
  const shared = [...need1].filter((b) => need2.has(b));
  t.is(shared.length, 1, 'the signatures share their empty config');
  const all = new Set([...need1, ...need2]);

  const folder = join(dir, 'bucket');
  const buckets = [`${pathToFileURL(folder).href}`, 's3://blobs/mirror', 'gs://k8s-blobs-eu/prefix'];
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'images', PROJECT), { recursive: true });
  await writeFile(
    join(manifests, 'manifests', PROJECT, 'promoter-manifest.yaml'),
    `registries:\n- name: ${staging.host}/${PROJECT}\n  src: true\n- name: ${prod.host}/images\n${buckets.map((b) => `- name: ${b}\n`).join('')}`,
  );
  const writeImages = (tagged: [string, string][]) => writeFile(join(manifests, 'images', PROJECT, 'images.yaml'), `- name: app\n  dmap:\n${tagged.map(([d, tag]) => `    "${d}": ["${tag}"]\n`).join('')}`);
  await writeImages([
    [d1, 'v1'],
    [d2, 'v2'],
  ]);

  // Requests for blob keys in the GCS bucket: a rerun must make none (the ledger answers).
  let blobRequests = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input).includes(encodeURIComponent('prefix/containers/images/'))) blobRequests++;
    return fetch(input, init);
  };
  const backends = createBackends({ s3: s3.client, env: { GCS_ENDPOINT: gcs.endpoint }, fetch: counting });
  t.teardown(() => backends.close());
  const run = async (opts: { confirm?: boolean; prune?: boolean; pruneGraceMs?: number } = {}) => {
    const { out, io } = captureIo();
    const r = await promote(
      { dir: manifests, confirm: opts.confirm ?? false, prune: opts.prune ?? false, parallel: 4, retry: { attempts: 3, baseMs: 1, maxMs: 5 }, ...(opts.pruneGraceMs ? { pruneGraceMs: opts.pruneGraceMs } : {}) },
      backends,
      io,
    );
    return { ...r, ...out };
  };
  const stores: FileStore[] = [new FsStore(`${buckets[0]}/`), new S3Store('s3://blobs/mirror/', s3.client), new GcsStore('gs://k8s-blobs-eu/prefix/', { endpoint: gcs.endpoint })];

  const dry = await run();
  t.is(dry.exitCode, 0, dry.stdout + dry.stderr);
  for (const b of buckets) t.true(dry.stdout.includes(`-> ${b}/: copy-file ${all.size};`), dry.stdout);
  t.regex(dry.stdout, new RegExp(`${prod.host}/images: copy-image 2, tag 2`));

  const done = await run({ confirm: true });
  t.is(done.exitCode, 0, done.stdout + done.stderr);
  t.true(blobRequests >= 2 * all.size, `the first runs look at every blob (${blobRequests} requests)`);
  for (const store of stores) {
    for (const blob of all) {
      const { sha256 } = await sha256OfStream(await store.read(blobKey(blob)));
      t.is(`sha256:${sha256}`, blob, `${store.base}${blobKey(blob)}`);
    }
    const ledger = parseLedger((await store.readText(ledgerObjectName(`images/${PROJECT}`))) ?? '');
    t.deepEqual([...ledger.files.keys()].sort(), [...all].map(blobKey).sort(), `${store.base} ledger lists every blob`);
    t.deepEqual([...(ledger.closures?.get(d1) ?? [])].sort(), [...need1].sort());
  }
  // Only the layout's keys and the promoter's own records in the folder: no temporary files.
  t.deepEqual((await readdir(join(folder, 'containers', 'images'))).sort(), [...all].sort());

  // A rerun plans nothing and copies nothing, without a request per blob.
  blobRequests = 0;
  const again = await run();
  t.is(blobRequests, 0);
  t.is(again.exitCode, 0, again.stdout + again.stderr);
  t.regex(again.stdout, /Nothing to do: production already matches every manifest\./);
  for (const b of buckets) t.true(again.stdout.includes(`-> ${b}/: nothing to do`), again.stdout);
  const noop = await run({ confirm: true });
  t.regex(noop.stdout, /Done: 0 action\(s\) succeeded, 0 failed\./);

  // A crash after the intent ledger, before one blob was written: the ledger lists it as pending,
  // the object is missing. The rerun checks exactly the pending blob and writes it.
  const folderLedger = () => readFile(join(folder, ledgerObjectName(`images/${PROJECT}`)), 'utf8');
  const lost = [...need2][0] as string;
  await rm(join(folder, blobKey(lost)));
  // validate --online checks what promote believes: the ledger's blobs must be there.
  const { out: vOut, io: vIo } = captureIo();
  t.is(await validateManifests({ dir: manifests, online: true, parallel: 4 }, backends, vIo), 1);
  t.true(vOut.stderr.includes(`not-in-production: ${buckets[0]}/${blobKey(lost)} (sha256 ${lost.slice(7)}) is in the ledger but not in production`), vOut.stderr);
  t.is(vOut.stderr.split('\n').filter(Boolean).length, 1, vOut.stderr);
  const json = JSON.parse(await folderLedger()) as { pending?: string[] };
  await writeFile(join(folder, ledgerObjectName(`images/${PROJECT}`)), JSON.stringify({ ...json, pending: [blobKey(lost)] }));
  const resumed = await run({ confirm: true });
  t.is(resumed.exitCode, 0, resumed.stdout + resumed.stderr);
  t.true(resumed.stdout.includes(`-> ${buckets[0]}/: copy-file 1;`), resumed.stdout);
  t.true(resumed.stdout.includes(`-> ${buckets[1]}/: nothing to do`), resumed.stdout);
  t.is(`sha256:${(await sha256OfStream(await stores[0]!.read(blobKey(lost)))).sha256}`, lost);
  t.is((JSON.parse(await folderLedger()) as { pending?: string[] }).pending, undefined, 'confirmed by the final ledger');

  // Drop v1: prune deletes exactly the blobs only v1 needed; the shared config stays.
  await writeImages([[d2, 'v2']]);
  const onlyV1 = [...need1].filter((b) => !need2.has(b));
  const pruned = await run({ confirm: true, prune: true, pruneGraceMs: 3000 });
  t.is(pruned.exitCode, 0, pruned.stdout + pruned.stderr);
  for (const store of stores) {
    for (const blob of onlyV1) t.is(await store.stat(blobKey(blob)), undefined, `${store.base}: ${blob} pruned`);
    for (const blob of need2) t.truthy(await store.stat(blobKey(blob)), `${store.base}: ${blob} kept`);
    const ledger = parseLedger((await store.readText(ledgerObjectName(`images/${PROJECT}`))) ?? '');
    t.deepEqual([...ledger.files.keys()].sort(), [...need2].map(blobKey).sort());
    t.false(ledger.closures?.has(d1));
  }
  for (const b of buckets) {
    t.true(pruned.stdout.includes(`-> ${b}/: delete-file ${onlyV1.length};`), pruned.stdout);
    // Deleted only after the grace, counted from the ledger that marked them retiring.
    t.true(pruned.stdout.includes(`waiting: ${b}/: `), pruned.stdout);
  }
});
