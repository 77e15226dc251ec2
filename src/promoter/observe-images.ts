// Fill the observed snapshot for image projects: each destination's ledger, tags (listed, then
// resolved for the tags the manifest or ledger names) and digests; staging presence of what
// still has to be copied, and its size (manifest, children and blobs) for the plan's bytes.
import type { Registry } from '../oci/registry.js';
import { references, sourceManifest } from './copy-image.js';
import { ledgerKey, parseLedger } from './ledger.js';
import { repoPath } from './load-images.js';
import type { ImageProject } from './model.js';
import { emptyRepo, type Observed, type RepoState } from './observed.js';
import { mapPool } from './pool.js';
import { readRegistryLedger } from './registry-ledger.js';
import { referrerTags } from './plan.js';
import type { RetryOptions } from '../net/retry.js';
import { Reachability } from './observe-reach.js';
import { observeDestRepo, type DestRepoTask } from './observe-dest-repo.js';
import { errorMessage } from '../util/error-message.js';

export type RegistryFor = (host: string) => Registry;

export function hostOf(location: string): string {
  return location.split('/')[0] as string;
}

export async function observeImages(
  projects: readonly ImageProject[],
  registry: RegistryFor,
  observed: Observed,
  opts: { parallel: number; retry: RetryOptions; checkAllStaging: boolean; reach?: Reachability },
): Promise<void> {
  const reach = opts.reach ?? new Reachability();
  observed.down = reach.down;
  const ledgerTasks = projects.flatMap((p) => p.destinations.map((dest) => ({ p, dest })));
  await mapPool(ledgerTasks, opts.parallel, async ({ p, dest }) => {
    try {
      const text = await reach.call(dest, () => readRegistryLedger(registry(hostOf(dest)), dest, p.id), opts.retry);
      if (text !== undefined) observed.ledgers.set(ledgerKey(p.id, dest), parseLedger(text, { project: p.project, destination: dest }));
    } catch (e) {
      observed.unreachable.set(dest, `cannot read ledger: ${errorMessage(e)}`);
    }
  });

  // One task per destination repository: one tags list, the ledger, and a HEAD only where
  // those cannot answer (observe-dest-repo.ts).
  const repoTasks: DestRepoTask[] = [];
  for (const p of projects) {
    for (const dest of p.destinations) {
      if (observed.unreachable.has(dest)) continue;
      const ledger = observed.ledgers.get(ledgerKey(p.id, dest));
      const names = new Set([...p.images.map((i) => i.name), ...(ledger?.images.keys() ?? [])]);
      for (const name of names) {
        const image = p.images.find((i) => i.name === name);
        repoTasks.push({
          dest,
          repo: `${repoPath(dest)}/${name}`,
          wanted: image?.dmap ?? new Map(),
          rollback: image?.rollback ?? new Set(),
          owned: ledger?.images.get(name),
          verifyAll: opts.checkAllStaging,
        });
      }
    }
  }
  await mapPool(repoTasks, opts.parallel, async (t) => {
    try {
      await observeDestRepo(registry(hostOf(t.dest)), t, repoState(observed, t.dest, t.repo.slice(repoPath(t.dest).length + 1)), reach, opts.retry);
    } catch (e) {
      observed.unreachable.set(t.dest, `${t.repo}: ${errorMessage(e)}`);
    }
  });

  // Staging's tags per image, once each: which signatures etc. exist for promoted digests.
  const listTasks = new Map<string, { p: ImageProject; name: string }>();
  for (const p of projects) for (const image of p.images) listTasks.set(`${p.src}\n${image.name}`, { p, name: image.name });
  await mapPool([...listTasks.values()], opts.parallel, async ({ p, name }) => {
    const repo = `${repoPath(p.src)}/${name}`;
    try {
      repoState(observed, p.src, name).listed = new Set(await reach.call(p.src, () => registry(hostOf(p.src)).listTags(repo), opts.retry));
    } catch (e) {
      observed.unreachable.set(p.src, `${repo}: ${errorMessage(e)}`);
    }
  });

  const stagingTasks: { p: ImageProject; name: string; digest: string }[] = [];
  for (const p of projects) {
    for (const image of p.images) {
      for (const digest of image.dmap.keys()) {
        const needed = opts.checkAllStaging || p.destinations.some((d) => !observed.registries.get(d)?.get(image.name)?.digests.has(digest));
        if (needed) stagingTasks.push({ p, name: image.name, digest });
      }
    }
  }
  await mapPool(stagingTasks, opts.parallel, async ({ p, name, digest }) => {
    const src = { src: registry(hostOf(p.src)), srcRepo: `${repoPath(p.src)}/${name}`, cache: new Map() };
    try {
      // One GET: its answer says whether staging has the digest, and its bytes start the size.
      const bytes = await reach.call(p.src, () => closureBytes(src, digest), opts.retry);
      if (bytes === undefined) return;
      repoState(observed, p.src, name).digests.add(digest);
      observed.imageBytes.set(digest, bytes);
    } catch (e) {
      observed.unreachable.set(p.src, `${src.srcRepo}@${digest}: ${errorMessage(e)}`);
    }
  });

  await observeReferrers(projects, registry, observed, { ...opts, reach });
}

const REFERRER_TAG = /^sha256-([0-9a-f]{64})(?:\.sig|\.att|\.sbom)?$/;

/**
 * Signatures, attestations and SBOMs of digests some destination already has: staging's
 * tag-schema referrers (`sha256-<hex>[.sig|.att|.sbom]`, resolved to digests) and, where staging
 * has the OCI referrers API, its referrers, for each digest and the children of an index; then
 * what each destination holds of them. The plan compares the two (copy-referrers).
 */
async function observeReferrers(projects: readonly ImageProject[], registry: RegistryFor, observed: Observed, opts: { parallel: number; retry: RetryOptions; reach: Reachability }): Promise<void> {
  const reach = opts.reach;
  const apiByHost = new Map<string, Promise<boolean>>();
  const tasks: { p: ImageProject; name: string; digests: string[] }[] = [];
  for (const p of projects) {
    if (observed.unreachable.has(p.src)) continue;
    for (const image of p.images) {
      const digests = [...image.dmap.keys()].filter((d) => p.destinations.some((dest) => observed.registries.get(dest)?.get(image.name)?.digests.has(d)));
      if (digests.length > 0) tasks.push({ p, name: image.name, digests });
    }
  }
  observed.children ??= new Map();
  const children = observed.children;
  await mapPool(tasks, opts.parallel, async ({ p, name, digests }) => {
    const client = registry(hostOf(p.src));
    const srcRepo = `${repoPath(p.src)}/${name}`;
    const staging = repoState(observed, p.src, name);
    const listed = staging.listed ?? new Set<string>();
    try {
      const host = hostOf(p.src);
      let api = apiByHost.get(host);
      // A registry that fails the probe (403, 5xx on an unknown route) is taken to have no API.
      if (!api) {
        api = reach
          .call(p.src, () => client.referrers(srcRepo, digests[0] as string), opts.retry)
          .then(
            (r) => r !== undefined,
            () => false,
          );
        apiByHost.set(host, api);
      }
      const hasApi = await api;
      const tagged = new Set([...listed].flatMap((t) => REFERRER_TAG.exec(t)?.[1] ?? []).map((hex) => `sha256:${hex}`));
      if (!hasApi && tagged.size === 0) return;
      // Children are read only when something could refer to them.
      const top = new Set(digests);
      const subjects = new Set(digests);
      if (hasApi || [...tagged].some((d) => !top.has(d))) {
        const src = { src: client, srcRepo, cache: new Map() };
        for (const digest of digests) {
          let kids = children.get(digest);
          if (!kids) {
            const m = await reach.call(p.src, () => sourceManifest(src, digest), opts.retry).catch(() => undefined); // cleaned up in staging: no children known
            kids = m ? references(m).children.map((c) => c.digest) : [];
            children.set(digest, kids);
          }
          for (const k of kids) subjects.add(k);
        }
      }
      for (const subject of subjects) {
        for (const tag of referrerTags(subject)) {
          if (!listed.has(tag)) continue;
          const head = await reach.call(p.src, () => client.headManifest(srcRepo, tag), opts.retry);
          if (head) staging.tags.set(tag, head.digest);
        }
        if (hasApi) {
          const refs = await reach.call(p.src, () => client.referrers(srcRepo, subject), opts.retry);
          if (refs && refs.length > 0) {
            staging.referrers ??= new Map();
            staging.referrers.set(
              subject,
              refs.map((r) => r.digest),
            );
          }
        }
      }
    } catch (e) {
      observed.unreachable.set(p.src, `${srcRepo} referrers: ${errorMessage(e)}`);
      return;
    }
    // What each destination holds of them.
    const refTags = [...staging.tags.keys()].filter((t) => REFERRER_TAG.test(t));
    const refDigests = [...(staging.referrers?.values() ?? [])].flat();
    if (refTags.length === 0 && refDigests.length === 0) return;
    for (const dest of p.destinations) {
      if (observed.unreachable.has(dest)) continue;
      const state = repoState(observed, dest, name);
      const repo = `${repoPath(dest)}/${name}`;
      const dst = registry(hostOf(dest));
      try {
        for (const tag of refTags) {
          if (!state.listed?.has(tag) || state.tags.has(tag)) continue;
          const head = await reach.call(dest, () => dst.headManifest(repo, tag), opts.retry);
          if (head) state.tags.set(tag, head.digest);
        }
        for (const digest of refDigests) {
          if (state.digests.has(digest)) continue;
          if (await reach.call(dest, () => dst.headManifest(repo, digest), opts.retry)) state.digests.add(digest);
        }
      } catch (e) {
        observed.unreachable.set(dest, `${repo} referrers: ${errorMessage(e)}`);
      }
    }
  });
}

/**
 * Bytes of a manifest, its children and all their blobs (an upper bound on what a copy moves);
 * undefined when the top-level manifest is not there.
 */
async function closureBytes(src: Parameters<typeof sourceManifest>[0], digest: string, top = true): Promise<number | undefined> {
  if (top && !(await src.src.getManifest(src.srcRepo, digest).then((m) => m && src.cache.set(digest, Promise.resolve(m))))) return undefined;
  const m = await sourceManifest(src, digest);
  const { children, blobs } = references(m);
  let total = m.bytes.length + blobs.reduce((n, b) => n + b.size, 0);
  for (const child of children) total += (await closureBytes(src, child.digest, false)) ?? 0;
  return total;
}

function repoState(observed: Observed, location: string, name: string): RepoState {
  let byName = observed.registries.get(location);
  if (!byName) {
    byName = new Map();
    observed.registries.set(location, byName);
  }
  let s = byName.get(name);
  if (!s) {
    s = emptyRepo();
    byName.set(name, s);
  }
  return s;
}
