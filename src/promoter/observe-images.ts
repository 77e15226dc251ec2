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
import { withRetry, type RetryOptions } from '../net/retry.js';
import { errorMessage } from '../util/error-message.js';

export type RegistryFor = (host: string) => Registry;

export function hostOf(location: string): string {
  return location.split('/')[0] as string;
}

export async function observeImages(projects: readonly ImageProject[], registry: RegistryFor, observed: Observed, opts: { parallel: number; retry: RetryOptions; checkAllStaging: boolean }): Promise<void> {
  const ledgerTasks = projects.flatMap((p) => p.destinations.map((dest) => ({ p, dest })));
  await mapPool(ledgerTasks, opts.parallel, async ({ p, dest }) => {
    try {
      const text = await withRetry(() => readRegistryLedger(registry(hostOf(dest)), dest, p.id), opts.retry);
      if (text !== undefined) observed.ledgers.set(ledgerKey(p.id, dest), parseLedger(text, { project: p.project, destination: dest }));
    } catch (e) {
      observed.unreachable.set(dest, `cannot read ledger: ${errorMessage(e)}`);
    }
  });

  // One task per destination repository: list tags, then resolve what matters.
  const repoTasks: { dest: string; name: string; tags: Set<string>; digests: Set<string> }[] = [];
  for (const p of projects) {
    for (const dest of p.destinations) {
      if (observed.unreachable.has(dest)) continue;
      const ledger = observed.ledgers.get(ledgerKey(p.id, dest));
      const names = new Set([...p.images.map((i) => i.name), ...(ledger?.images.keys() ?? [])]);
      for (const name of names) {
        const image = p.images.find((i) => i.name === name);
        const owned = ledger?.images.get(name);
        repoTasks.push({
          dest,
          name,
          tags: new Set([...(image ? [...image.dmap.values()].flat() : []), ...(owned?.tags.keys() ?? [])]),
          digests: new Set([...(image?.dmap.keys() ?? []), ...(owned?.digests ?? [])]),
        });
      }
    }
  }
  await mapPool(repoTasks, opts.parallel, async (t) => {
    const client = registry(hostOf(t.dest));
    const repo = `${repoPath(t.dest)}/${t.name}`;
    try {
      const state = repoState(observed, t.dest, t.name);
      const listed = new Set(await withRetry(() => client.listTags(repo), opts.retry));
      state.listed = listed;
      for (const tag of t.tags) {
        if (!listed.has(tag)) continue;
        const head = await withRetry(() => client.headManifest(repo, tag), opts.retry);
        if (head) state.tags.set(tag, head.digest);
      }
      for (const digest of t.digests) {
        if (await withRetry(() => client.headManifest(repo, digest), opts.retry)) state.digests.add(digest);
      }
    } catch (e) {
      observed.unreachable.set(t.dest, `${repo}: ${errorMessage(e)}`);
    }
  });

  // Staging's tags per image, once each: which signatures etc. exist for promoted digests.
  const listTasks = new Map<string, { p: ImageProject; name: string }>();
  for (const p of projects) for (const image of p.images) listTasks.set(`${p.src}\n${image.name}`, { p, name: image.name });
  await mapPool([...listTasks.values()], opts.parallel, async ({ p, name }) => {
    const repo = `${repoPath(p.src)}/${name}`;
    try {
      repoState(observed, p.src, name).listed = new Set(await withRetry(() => registry(hostOf(p.src)).listTags(repo), opts.retry));
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
      const head = await withRetry(() => src.src.headManifest(src.srcRepo, digest), opts.retry);
      if (!head) return;
      repoState(observed, p.src, name).digests.add(digest);
      observed.imageBytes.set(digest, await withRetry(() => closureBytes(src, digest), opts.retry));
    } catch (e) {
      observed.unreachable.set(p.src, `${src.srcRepo}@${digest}: ${errorMessage(e)}`);
    }
  });
}

/** Bytes of a manifest, its children and all their blobs (an upper bound on what a copy moves). */
async function closureBytes(src: Parameters<typeof sourceManifest>[0], digest: string): Promise<number> {
  const m = await sourceManifest(src, digest);
  const { children, blobs } = references(m);
  let total = m.bytes.length + blobs.reduce((n, b) => n + b.size, 0);
  for (const child of children) total += await closureBytes(src, child.digest);
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
