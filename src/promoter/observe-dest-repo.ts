// What one destination repository holds of a project, from one tags list (issue 8). Before, each
// digest and tag cost a HEAD per destination: k8s-staging-kubernetes (9,990 digests, 40
// destinations) took 411,310 requests. Now, per repository and destination:
//   - one tags list (all pages). A tag not in it is not there: no request.
//   - Google's `manifest` map (GCR, Artifact Registry), when the list has it, names every digest
//     of the repository and its tags: nothing else is asked (as kpromo plans).
//   - Otherwise a listed tag this promoter set (the ledger's tag -> digest) is taken from the
//     ledger, and its digest is there; a listed tag the ledger does not know, or one marked
//     `rollback` (a move may have been planned and not carried out), is HEADed.
//   - A digest still unknown is HEADed when the ledger lists it (the ledger is written before
//     the copies: a crash leaves it over-claiming) or when the manifest gives it no tag. A digest
//     whose manifest tags are all absent from the list is planned as a copy without a HEAD: the
//     copy checks the destination first and moves nothing if it is there untagged.
// So a digest is never taken to be in production on the ledger's word alone: a listed tag backs
// it, or a HEAD. `verifyAll` (validate --online) HEADs every tag and digest, as before.
import type { ManifestHeader, TagsListReader } from '../oci/registry.js';
import type { RetryOptions } from '../net/retry.js';
import type { ImageLedger } from './ledger.js';
import type { RepoState } from './observed.js';
import type { Reachability } from './observe-reach.js';

export interface DestRepoTask {
  /** The destination location (for the reachability check) and the repository path. */
  dest: string;
  repo: string;
  /** Digest -> its tags, as the manifest wants them. */
  wanted: ReadonlyMap<string, readonly string[]>;
  /** Tags the manifest allows to move. */
  rollback: ReadonlySet<string>;
  /** What this project's ledger says was promoted to this repository. */
  owned: ImageLedger | undefined;
  verifyAll: boolean;
}

export async function observeDestRepo(client: ManifestHeader & TagsListReader, t: DestRepoTask, state: RepoState, reach: Reachability, retry: RetryOptions): Promise<void> {
  const call = <T>(fn: () => Promise<T>) => reach.call(t.dest, fn, retry);
  const list = await call(() => client.tagsList(t.repo));
  const listed = new Set(list.tags);
  state.listed = listed;
  if (list.digests && !t.verifyAll) {
    for (const [digest, tags] of list.digests) {
      state.digests.add(digest);
      for (const tag of tags) state.tags.set(tag, digest);
    }
    return;
  }
  const head = async (ref: string) => call(() => client.headManifest(t.repo, ref));
  const tags = new Set([...[...t.wanted.values()].flat(), ...(t.owned?.tags.keys() ?? [])]);
  for (const tag of tags) {
    if (!listed.has(tag)) continue;
    const recorded = t.owned?.tags.get(tag);
    if (recorded !== undefined && !t.verifyAll && !t.rollback.has(tag)) {
      state.tags.set(tag, recorded);
      state.digests.add(recorded);
      continue;
    }
    const found = await head(tag);
    if (found) {
      state.tags.set(tag, found.digest);
      state.digests.add(found.digest);
    }
  }
  const digests = new Set([...t.wanted.keys(), ...(t.owned?.digests ?? [])]);
  for (const digest of digests) {
    if (state.digests.has(digest)) continue;
    const mustAsk = t.verifyAll || t.owned?.digests.has(digest) === true || (t.wanted.get(digest)?.length ?? 0) === 0;
    if (mustAsk && (await head(digest))) state.digests.add(digest);
  }
}
