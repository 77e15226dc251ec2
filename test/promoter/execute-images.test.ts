// Image promotion against in-memory registries (no processes): observe, plan and execute of a
// two-platform image with a cosign signature tag; then uploads that fail for good, fail once, and
// a ledger that cannot be written.
import test from 'ava';
import { TransientError } from '../../src/net/retry.js';
import type { Descriptor } from '../../src/oci/client.js';
import type { ActionResult } from '../../src/promoter/execute-destination.js';
import { executeImages } from '../../src/promoter/execute-images.js';
import { parseLedger } from '../../src/promoter/ledger.js';
import type { ImageProject } from '../../src/promoter/model.js';
import { observeImages, type RegistryFor } from '../../src/promoter/observe-images.js';
import { emptyObserved, type Observed } from '../../src/promoter/observed.js';
import { plan } from '../../src/promoter/plan.js';
import { LEDGER_REPO, readRegistryLedger } from '../../src/promoter/registry-ledger.js';
import { MemoryRegistry, type MemoryRegistryOptions } from './memory-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SRC = 'staging.test/k8s-staging-x';
const DEST = 'prod.test/images';
const SRC_REPO = 'k8s-staging-x/app';
const DEST_REPO = 'images/app';
const FAST = { attempts: 3, baseMs: 1, maxMs: 2 };

interface Staged {
  staging: MemoryRegistry;
  index: Descriptor;
  platforms: Descriptor[];
  blobs: Descriptor[];
  sigTag: string;
  sig: Descriptor;
}

/** Staging with one two-platform image (an index over amd64 and arm64) and its cosign signature tag. */
function staged(): Staged {
  const staging = new MemoryRegistry('staging.test');
  const platforms: Descriptor[] = [];
  const blobs: Descriptor[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    const config = staging.addBlob(SRC_REPO, Buffer.from(JSON.stringify({ architecture, os: 'linux' })), 'application/vnd.oci.image.config.v1+json');
    const layer = staging.addBlob(SRC_REPO, Buffer.from(`the ${architecture} layer`), 'application/vnd.oci.image.layer.v1.tar+gzip');
    blobs.push(config, layer);
    platforms.push({ ...staging.addManifest(SRC_REPO, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), annotations: { architecture } });
  }
  const index = staging.addManifest(SRC_REPO, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: platforms }, ['v1']);
  const sigTag = `sha256-${index.digest.slice('sha256:'.length)}.sig`;
  const sigConfig = staging.addBlob(SRC_REPO, Buffer.from('{}'), 'application/vnd.oci.image.config.v1+json');
  const payload = staging.addBlob(SRC_REPO, Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': index.digest } } })), 'application/vnd.dev.cosign.simplesigning.v1+json');
  blobs.push(sigConfig, payload);
  const sig = staging.addManifest(SRC_REPO, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: sigConfig, layers: [payload] }, [sigTag]);
  return { staging, index, platforms, blobs, sigTag, sig };
}

function project(index: Descriptor): ImageProject {
  return { kind: 'images', id: 'images/k8s-staging-x', project: 'k8s-staging-x', files: [], src: SRC, destinations: [DEST], images: [{ name: 'app', dmap: new Map([[index.digest, ['v1']]]), rollback: new Set() }] };
}

function registries(...all: MemoryRegistry[]): RegistryFor {
  return (host) => {
    const r = all.find((x) => x.host === host);
    if (!r) throw new Error(`no registry ${host} in this test`);
    return r;
  };
}

async function observe(p: ImageProject, registry: RegistryFor): Promise<Observed> {
  const observed = emptyObserved();
  await observeImages([p], registry, observed, { parallel: 2, retry: FAST, checkAllStaging: false });
  return observed;
}

async function run(p: ImageProject, registry: RegistryFor): Promise<{ results: ActionResult[]; reported: ActionResult[]; kinds: string[] }> {
  const observed = await observe(p, registry);
  const pp = plan([p], observed, { prune: false }).projects[0]!;
  const reported: ActionResult[] = [];
  const results = await executeImages(p, pp, observed, registry, { parallel: 2, retry: FAST, onResult: (r) => reported.push(r) });
  return { results, reported, kinds: pp.destinations[0]!.actions.map((a) => a.kind) };
}

async function ledgerAt(prod: MemoryRegistry, p: ImageProject) {
  const text = await readRegistryLedger(prod, DEST, p.id);
  return text === undefined ? undefined : parseLedger(text, { project: p.project, destination: DEST });
}

test('observe sees staging and an empty destination; plan copies and tags; execute copies the closure, the signature tag and the ledger', async (t) => {
  const { staging, index, platforms, blobs, sigTag, sig } = staged();
  const prod = new MemoryRegistry('prod.test');
  const registry = registries(staging, prod);
  const p = project(index);

  const observed = await observe(p, registry);
  t.deepEqual([...observed.unreachable], []);
  t.true(observed.registries.get(SRC)?.get('app')?.digests.has(index.digest));
  t.true(observed.registries.get(SRC)?.get('app')?.listed?.has(sigTag), 'staging is listed: its signature tags are known');
  t.deepEqual([...(observed.registries.get(DEST)?.get('app')?.listed ?? [])], []);
  const closure = index.size + platforms.reduce((n, m) => n + m.size, 0) + blobs.slice(0, 4).reduce((n, b) => n + b.size, 0);
  t.is(observed.imageBytes.get(index.digest), closure, 'index, both platform manifests and their blobs');

  const pp = plan([p], observed, { prune: false }).projects[0]!;
  t.deepEqual(pp.errors, []);
  t.deepEqual(pp.destinations[0]!.actions, [
    { kind: 'copy-image', name: 'app', digest: index.digest, bytes: closure },
    { kind: 'tag', name: 'app', tag: 'v1', digest: index.digest },
  ]);

  const reported: ActionResult[] = [];
  const results = await executeImages(p, pp, observed, registry, { parallel: 2, retry: FAST, onResult: (r) => reported.push(r) });
  t.deepEqual(
    results.map((r) => [r.action.kind, r.error]),
    [
      ['copy-image', undefined],
      ['tag', undefined],
    ],
  );
  t.deepEqual(reported, results, 'each result is reported once, as it finishes');
  for (const m of [index, ...platforms, sig]) t.true(prod.hasManifest(DEST_REPO, m.digest), m.digest);
  for (const b of blobs) t.true(await prod.hasBlob(DEST_REPO, b.digest), b.digest);
  t.deepEqual(prod.tagsOf(DEST_REPO), { [sigTag]: sig.digest, v1: index.digest });
  // Children before the index, blobs before their manifest; the tag after the digest arrived.
  const puts = prod.calls.filter((c) => c.startsWith(`putManifest ${DEST_REPO} `)).map((c) => c.split(' ')[2]);
  t.deepEqual(puts, [platforms[0]!.digest, platforms[1]!.digest, index.digest, sig.digest, sigTag, 'v1']);

  const ledger = await ledgerAt(prod, p);
  t.deepEqual([...(ledger?.images.get('app')?.digests ?? [])], [index.digest]);
  t.deepEqual([...(ledger?.images.get('app')?.tags ?? [])], [['v1', index.digest]]);

  // Observed again, the destination holds everything: nothing left to do.
  const again = await run(p, registry);
  t.deepEqual(again.kinds, []);
  t.deepEqual(again.results, []);
});

test('an upload that keeps failing fails its copy; its tag is not set; the ledger claims nothing', async (t) => {
  const { staging, index, platforms } = staged();
  const arm64Layer = JSON.parse((await staging.getManifest(SRC_REPO, platforms[1]!.digest))!.bytes.toString('utf8')).layers[0].digest as string;
  const prod = new MemoryRegistry('prod.test', { fail: (op, _repo, ref) => (op === 'uploadBlob' && ref === arm64Layer ? new TransientError('503 from the test') : undefined) });
  const p = project(index);

  const { results, reported, kinds } = await run(p, registries(staging, prod));
  t.deepEqual(kinds, ['copy-image', 'tag']);
  t.deepEqual(
    results.map((r) => [r.action.kind, r.error]),
    [
      ['copy-image', '503 from the test'],
      ['tag', 'not tagged: copying its digest failed'],
    ],
  );
  t.deepEqual(reported, results, 'the tag left out is reported too (a "failed:" line), not only counted');
  const tries = prod.calls.filter((c) => c === `uploadBlob ${DEST_REPO} ${arm64Layer}`).length;
  t.is(tries, FAST.attempts * FAST.attempts, 'each blob transfer retried, inside each retried action');
  t.false(prod.hasManifest(DEST_REPO, index.digest), 'no index without its children');
  t.false(prod.hasManifest(DEST_REPO, platforms[1]!.digest));
  t.true(prod.hasManifest(DEST_REPO, platforms[0]!.digest), 'what arrived stays (a later run skips it)');
  t.deepEqual(prod.tagsOf(DEST_REPO), {});
  const ledger = await ledgerAt(prod, p);
  t.truthy(ledger, 'the intent ledger was written first, then rewritten');
  t.is(ledger?.images.get('app'), undefined, 'the final ledger claims nothing that failed');
});

test('an upload that fails once is retried and the promotion completes', async (t) => {
  const { staging, index, platforms, sigTag, sig } = staged();
  let failures = 0;
  const prod = new MemoryRegistry('prod.test', {
    fail: (op) => {
      if (op !== 'uploadBlob' || failures > 0) return undefined;
      failures++;
      return new TransientError('connection reset by the test');
    },
  });
  const p = project(index);
  const { results } = await run(p, registries(staging, prod));
  t.deepEqual(
    results.map((r) => r.error),
    [undefined, undefined],
  );
  t.is(failures, 1);
  t.deepEqual(prod.tagsOf(DEST_REPO), { [sigTag]: sig.digest, v1: index.digest });
  t.true(prod.hasManifest(DEST_REPO, platforms[1]!.digest));
});

test('a ledger that cannot be written stops every action before anything is copied', async (t) => {
  const { staging, index } = staged();
  const fail: MemoryRegistryOptions['fail'] = (op, repo) => (op === 'uploadBlob' && repo === `images/${LEDGER_REPO}` ? new Error('denied by the test') : undefined);
  const prod = new MemoryRegistry('prod.test', { fail });
  const p = project(index);
  const { results, reported } = await run(p, registries(staging, prod));
  t.deepEqual(
    results.map((r) => [r.action.kind, r.error]),
    [
      ['copy-image', 'ledger not writable: denied by the test'],
      ['tag', 'ledger not writable: denied by the test'],
    ],
  );
  t.deepEqual(reported, results);
  t.deepEqual(
    prod.calls.filter((c) => c.includes(DEST_REPO) && !c.startsWith('listTags') && !c.startsWith('tagsList') && !c.startsWith('headManifest')),
    [],
    'nothing touched the image repository after observing it',
  );
  t.is(await ledgerAt(prod, p), undefined);
});

test('observe: an unreachable destination is reported, not planned as empty', async (t) => {
  const { staging, index } = staged();
  const prod = new MemoryRegistry('prod.test', { fail: (op) => (op === 'getManifest' ? new Error('TLS handshake failed (test)') : undefined) });
  const observed = await observe(project(index), registries(staging, prod));
  t.regex(observed.unreachable.get(DEST) ?? '', /cannot read ledger: TLS handshake failed \(test\)/);
  const pp = plan([project(index)], observed, { prune: false }).projects[0]!;
  t.deepEqual(
    pp.errors.map((e) => e.kind),
    ['unreachable'],
  );
});

test('a blob shared by two images is streamed once to a destination registry and mounted into the other repository', async (t) => {
  const staging = new MemoryRegistry('staging.test');
  const base = Buffer.from('a base layer both images share');
  const dmaps: [string, Map<string, string[]>][] = [];
  for (const name of ['app', 'tool']) {
    const repo = `k8s-staging-x/${name}`;
    const config = staging.addBlob(repo, Buffer.from(JSON.stringify({ name })), 'application/vnd.oci.image.config.v1+json');
    const shared = staging.addBlob(repo, base, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const m = staging.addManifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [shared] }, ['v1']);
    dmaps.push([name, new Map([[m.digest, ['v1']]])]);
  }
  const p: ImageProject = { ...project(staging.addBlob(SRC_REPO, Buffer.from('unused'), 'x')), images: dmaps.map(([name, dmap]) => ({ name, dmap, rollback: new Set() })) };
  const prod = new MemoryRegistry('prod.test');
  const { results } = await run(p, registries(staging, prod));
  t.deepEqual(
    results.filter((r) => r.error),
    [],
  );
  const baseDigest = `sha256:${(await import('node:crypto')).createHash('sha256').update(base).digest('hex')}`;
  const touching = prod.calls.filter((c) => c.endsWith(baseDigest) && /^(uploadBlob|mountBlob) /.test(c)).map((c) => c.split(' ')[0]);
  t.deepEqual(touching.sort(), ['mountBlob', 'uploadBlob'], 'one upload, one mount');
  for (const name of ['app', 'tool']) t.true(await prod.hasBlob(`images/${name}`, baseDigest), name);
});
