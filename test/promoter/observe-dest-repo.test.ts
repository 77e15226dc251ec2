// Issue 8: planning reads one tags list per destination repository, plus the ledger, and sends a
// HEAD only where those cannot answer. Against in-memory registries, counting what is asked.
import test from 'ava';
import { executeImages } from '../../src/promoter/execute-images.js';
import type { ImageProject } from '../../src/promoter/model.js';
import { observeImages, type RegistryFor } from '../../src/promoter/observe-images.js';
import { emptyObserved, type Observed } from '../../src/promoter/observed.js';
import { plan, type Plan } from '../../src/promoter/plan.js';
import { LEDGER_REPO } from '../../src/promoter/registry-ledger.js';
import { MemoryRegistry, type MemoryRegistryOptions } from './memory-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const FAST = { attempts: 3, baseMs: 1, maxMs: 2 };
const DIGESTS = 30;

/** Staging with DIGESTS small images of `app`, each tagged v<i>; the project promoting them to prod.test/images. */
function setup(prodOpts: MemoryRegistryOptions = {}) {
  const staging = new MemoryRegistry('staging.test');
  const prod = new MemoryRegistry('prod.test', prodOpts);
  const dmap = new Map<string, string[]>();
  for (let i = 0; i < DIGESTS; i++) {
    const config = staging.addBlob('k8s-staging-x/app', Buffer.from(JSON.stringify({ i })));
    const m = staging.addManifest('k8s-staging-x/app', { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] }, [`v${i}`]);
    dmap.set(m.digest, [`v${i}`]);
  }
  const p: ImageProject = {
    kind: 'images',
    id: 'images/k8s-staging-x',
    project: 'k8s-staging-x',
    files: [],
    src: 'staging.test/k8s-staging-x',
    destinations: ['prod.test/images'],
    images: [{ name: 'app', dmap, rollback: new Set() }],
  };
  const registry: RegistryFor = (host) => (host === 'staging.test' ? staging : prod);
  return { staging, prod, p, registry };
}

async function observePlan(p: ImageProject, registry: RegistryFor, verifyAll = false): Promise<{ observed: Observed; planned: Plan }> {
  const observed = emptyObserved();
  await observeImages([p], registry, observed, { parallel: 4, retry: FAST, checkAllStaging: verifyAll });
  return { observed, planned: plan([p], observed, { prune: false, checkAllStaging: verifyAll }) };
}

/** Requests planning sent to the destination's image repository, by operation. */
function asked(prod: MemoryRegistry, since: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of prod.calls.slice(since)) {
    if (c.includes(LEDGER_REPO)) continue;
    const op = c.split(' ')[0] as string;
    counts[op] = (counts[op] ?? 0) + 1;
  }
  return counts;
}

function actions(planned: Plan): string[] {
  return planned.projects[0]!.destinations[0]!.actions.map((a) => a.kind);
}

async function promoteAll(p: ImageProject, registry: RegistryFor) {
  const { observed, planned } = await observePlan(p, registry);
  const results = await executeImages(p, planned.projects[0]!, observed, registry, { parallel: 4, retry: FAST });
  if (results.some((r) => r.error)) throw new Error(`promotion failed: ${JSON.stringify(results.filter((r) => r.error))}`);
}

test('an empty destination costs one tags list, no HEAD per digest', async (t) => {
  const { prod, p, registry } = setup();
  const { planned } = await observePlan(p, registry);
  t.deepEqual(asked(prod, 0), { tagsList: 1 });
  t.is(actions(planned).filter((k) => k === 'copy-image').length, DIGESTS);
  t.is(actions(planned).filter((k) => k === 'tag').length, DIGESTS);
});

test('a destination this promoter filled plans from its tags list and ledger alone: nothing to do, no HEAD', async (t) => {
  const { prod, p, registry } = setup();
  await promoteAll(p, registry);
  const before = prod.calls.length;
  const { planned } = await observePlan(p, registry);
  t.deepEqual(asked(prod, before), { tagsList: 1 });
  t.deepEqual(actions(planned), []);
  t.deepEqual(planned.projects[0]!.errors, []);
});

test('a digest the ledger lists whose tag is gone from the list is checked, and copied again when missing', async (t) => {
  const { prod, p, registry } = setup();
  await promoteAll(p, registry);
  const [gone, untagged] = [...p.images[0]!.dmap.keys()];
  // Someone deleted one image (its tag goes with it) and one tag only.
  await prod.deleteManifest('images/app', gone!);
  await prod.deleteManifest('images/app', 'v1');
  const before = prod.calls.length;
  const { planned } = await observePlan(p, registry);
  t.deepEqual(asked(prod, before), { tagsList: 1, headManifest: 2 });
  const acts = planned.projects[0]!.destinations[0]!.actions;
  t.deepEqual(
    acts.map((a) => `${a.kind} ${'tag' in a ? a.tag : a.name}`),
    ['copy-image app', 'tag v0', 'tag v1'],
  );
  t.is((acts[0] as { digest: string }).digest, gone as string);
  t.is((acts[2] as { digest: string }).digest, untagged as string);
});

test('a rollback tag is always asked (a planned move may not have happened), even when the ledger knows it', async (t) => {
  const { prod, p, registry } = setup();
  await promoteAll(p, registry);
  p.images[0]!.rollback.add('v3');
  const before = prod.calls.length;
  await observePlan(p, registry);
  t.deepEqual(asked(prod, before), { tagsList: 1, headManifest: 1 });
  t.true(prod.calls.slice(before).includes('headManifest images/app v3'));
});

test('tags another tool set (no ledger) are HEADed once each; their digests are then known', async (t) => {
  const { prod, p, registry } = setup();
  await promoteAll(p, registry);
  await prod.deleteManifest(`images/${LEDGER_REPO}`, 'images--k8s-staging-x');
  const before = prod.calls.length;
  const { planned } = await observePlan(p, registry);
  t.deepEqual(asked(prod, before), { tagsList: 1, headManifest: DIGESTS });
  t.deepEqual(actions(planned), []);
});

test("Google's digest map in the tags list answers everything, without a ledger", async (t) => {
  const { prod, p, registry } = setup({ tagDigests: true });
  await promoteAll(p, registry);
  await prod.deleteManifest(`images/${LEDGER_REPO}`, 'images--k8s-staging-x');
  await prod.deleteManifest('images/app', 'v2');
  const before = prod.calls.length;
  const { planned } = await observePlan(p, registry);
  t.deepEqual(asked(prod, before), { tagsList: 1 });
  t.deepEqual(
    planned.projects[0]!.destinations[0]!.actions.map((a) => `${a.kind} ${'tag' in a ? a.tag : ''}`),
    ['tag v2'],
    'the untagged digest is known to be there: only its tag is set',
  );
});

test('validate --online (verifyAll) still HEADs every tag and digest', async (t) => {
  const { prod, p, registry } = setup();
  await promoteAll(p, registry);
  const before = prod.calls.length;
  await observePlan(p, registry, true);
  t.deepEqual(asked(prod, before), { tagsList: 1, headManifest: DIGESTS });
});
