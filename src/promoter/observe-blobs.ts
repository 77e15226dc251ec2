// Fill the observed snapshot for blob buckets (issue 13): each bucket's ledger; from staging, the
// blobs every promoted digest needs (configs and layers of the manifest, of every platform of an
// index, and of its signatures, attestations and SBOMs: the `sha256-<hex>[.sig|.att|.sbom]` tags
// and, where staging has it, the OCI referrers API, as image copies find them); and the state of
// each needed blob the bucket's ledger does not list. A blob the ledger lists (confirmed by a
// final ledger, not just pending in an intent one) is not looked at again (that is the point of the ledger at 100k objects); one it does not list is checked with a
// HEAD, trusted when the store computed its sha256, else read and hashed (statAndHash).
import type { Manifest } from '../oci/client.js';
import type { RetryOptions } from '../net/retry.js';
import { RegistryError } from '../oci/client.js';
import { errorMessage } from '../util/error-message.js';
import { blobKey } from './blob-buckets.js';
import { references, sourceManifest } from './copy-image.js';
import { ledgerKey } from './ledger.js';
import { repoPath } from './load-images.js';
import type { ImageProject } from './model.js';
import { locationMap, observeStoreLedgers, statAndHash } from './observe-files.js';
import { hostOf, type RegistryFor } from './observe-images.js';
import { Reachability } from './observe-reach.js';
import { stagingKey, type Observed } from './observed.js';
import { referrerTags } from './plan.js';
import { mapPool } from './pool.js';
import type { FileStore } from './stores/store.js';

export async function observeBlobBuckets(
  projects: readonly ImageProject[],
  registry: RegistryFor,
  store: (base: string) => FileStore,
  observed: Observed,
  /** `checkLedgered` (validate --online): also check every blob the ledgers list, which promote believes. */
  opts: { parallel: number; retry: RetryOptions; reach?: Reachability; checkLedgered?: boolean },
): Promise<void> {
  const withBuckets = projects.filter((p) => (p.blobBuckets ?? []).length > 0);
  if (withBuckets.length === 0) return;
  const reach = opts.reach ?? new Reachability();
  observed.down = reach.down;
  observed.blobs ??= { closures: new Map(), sourceName: new Map() };
  const blobs = observed.blobs;

  await observeStoreLedgers(
    withBuckets.flatMap((p) => (p.blobBuckets ?? []).map((base) => ({ p, base }))),
    store,
    observed,
    reach,
    opts,
  );

  // Staging: the blob closure of every promoted digest (manifests are small and cached per image).
  const apiByHost = new Map<string, Promise<boolean>>();
  const walks = withBuckets.flatMap((p) => p.images.flatMap((image) => [...image.dmap.keys()].map((digest) => ({ p, name: image.name, digest }))));
  const caches = new Map<string, Map<string, Promise<Manifest>>>();
  await mapPool(walks, opts.parallel, async ({ p, name, digest }) => {
    if (observed.unreachable.has(p.src) || blobs.closures.has(stagingKey(p.src, digest))) return;
    const client = registry(hostOf(p.src));
    const srcRepo = `${repoPath(p.src)}/${name}`;
    const cacheKey = `${p.src}\n${name}`;
    let cache = caches.get(cacheKey);
    if (!cache) {
      cache = new Map();
      caches.set(cacheKey, cache);
    }
    const src = { src: client, srcRepo, cache };
    try {
      const listed = await reach.call(p.src, () => stagingTags(observed, p.src, name, () => client.listTags(srcRepo)), opts.retry);
      let api = apiByHost.get(client.host);
      if (!api) {
        // One probe per registry: a registry without the referrers API (docker-registry 2.8) is not asked again.
        api = reach
          .call(p.src, () => client.referrers(srcRepo, digest), opts.retry)
          .then(
            (r) => r !== undefined,
            () => false,
          );
        apiByHost.set(client.host, api);
      }
      const hasApi = await api;
      const closure = new Map<string, number>();
      const seen = new Set<string>();
      const walk = async (ref: string): Promise<void> => {
        if (seen.has(ref)) return;
        seen.add(ref);
        const m = await reach.call(p.src, () => sourceManifest(src, ref), opts.retry);
        const { children, blobs: own } = references(m);
        for (const b of own) closure.set(b.digest, b.size);
        for (const child of children) await walk(child.digest);
        for (const tag of referrerTags(ref)) {
          if (!listed.has(tag)) continue;
          const head = await reach.call(p.src, () => client.headManifest(srcRepo, tag), opts.retry);
          if (head) await walk(head.digest);
        }
        if (hasApi) for (const r of (await reach.call(p.src, () => client.referrers(srcRepo, ref), opts.retry)) ?? []) await walk(r.digest);
      };
      await walk(digest);
      blobs.closures.set(stagingKey(p.src, digest), closure);
      for (const b of closure.keys()) if (!blobs.sourceName.has(stagingKey(p.src, b))) blobs.sourceName.set(stagingKey(p.src, b), name);
    } catch (e) {
      // Not in staging (cleaned up after promotion): no closure; the plan falls back to the ledger's.
      if (e instanceof RegistryError && e.status === 404) return;
      observed.unreachable.set(p.src, `${srcRepo}@${digest}: ${errorMessage(e)}`);
    }
  });

  // Each bucket: the needed blobs its ledger does not list (once per bucket, whichever project needs them).
  const checks = new Map<string, { base: string; key: string; ledgered: boolean }>();
  for (const p of withBuckets) {
    for (const base of p.blobBuckets ?? []) {
      if (observed.unreachable.has(base)) continue;
      const ledger = observed.ledgers.get(ledgerKey(p.id, base));
      for (const image of p.images) {
        for (const digest of image.dmap.keys()) {
          for (const blob of blobs.closures.get(stagingKey(p.src, digest))?.keys() ?? []) {
            const key = blobKey(blob);
            const id = `${base}\n${key}`;
            // Checked when any project needing it does not list it (another project's ledger proves nothing to this one's).
            if (ledger?.files.get(key) === blob.slice('sha256:'.length) && !ledger.pending?.has(key)) {
              if (!checks.has(id)) checks.set(id, { base, key, ledgered: true });
            } else checks.set(id, { base, key, ledgered: false });
          }
        }
      }
      for (const key of opts.checkLedgered ? (ledger?.files.keys() ?? []) : []) checks.set(`${base}\n${key}`, { base, key, ledgered: false });
    }
  }
  await mapPool(
    [...checks.values()].filter((c) => !c.ledgered),
    opts.parallel,
    async ({ base, key }) => {
      try {
        const state = await reach.call(base, () => statAndHash(store(base), key), opts.retry);
        if (state) locationMap(observed, base).set(key, state);
      } catch (e) {
        observed.unreachable.set(base, `${key}: ${errorMessage(e)}`);
      }
    },
  );
}

/** Staging's tags of one image: as the image observer listed them, else listed here. */
async function stagingTags(observed: Observed, src: string, name: string, list: () => Promise<string[]>): Promise<Set<string>> {
  const known = observed.registries.get(src)?.get(name)?.listed;
  return known ?? new Set(await list());
}
