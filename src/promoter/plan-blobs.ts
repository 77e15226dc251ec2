// The plan of a project's blob buckets (issue 13), a pure function like the rest of the planner:
// per bucket, `copy-file` for each blob a promoted digest needs that the bucket lacks (the object
// name is the layout key `containers/images/sha256:<hex>`), `replace-file` for a key holding
// other bytes (the key names its content, so no rollback is needed), and with `--prune`
// `delete-file` for blobs the ledger lists that no kept image of any project filling that bucket
// in this run needs (a blob shared with a kept image stays).
import { blobKey, digestOfBlobKey } from './blob-buckets.js';
import { emptyLedger, ledgerKey, type Ledger } from './ledger.js';
import type { ImageProject, Project } from './model.js';
import { stagingKey, type Observed } from './observed.js';
import { destinationPlans, type DestinationPlan, type PlanError, type PlanOptions } from './plan.js';

/** Per bucket base: every blob some kept image of a loaded project needs, and the images whose needs are unknown. */
export interface BucketNeeds {
  needed: Map<string, Set<string>>;
  unknown: Map<string, string[]>;
}

/** The blobs one promoted digest needs: from staging, else as the bucket's ledger recorded them. */
function closureOf(p: ImageProject, digest: string, observed: Observed, ledger: Ledger | undefined): Map<string, number> | undefined {
  const fromStaging = observed.blobs?.closures.get(stagingKey(p.src, digest));
  if (fromStaging) return fromStaging;
  const recorded = ledger?.closures?.get(digest);
  return recorded ? new Map(recorded.map((b) => [b, 0])) : undefined;
}

export function bucketNeeds(projects: readonly Project[], observed: Observed): BucketNeeds {
  const needs: BucketNeeds = { needed: new Map(), unknown: new Map() };
  for (const p of projects) {
    if (p.kind !== 'images') continue;
    for (const base of p.blobBuckets ?? []) {
      const ledger = observed.ledgers.get(ledgerKey(p.id, base));
      const needed = needs.needed.get(base) ?? new Set<string>();
      needs.needed.set(base, needed);
      for (const image of p.images) {
        for (const digest of image.dmap.keys()) {
          const c = closureOf(p, digest, observed, ledger);
          if (c) for (const b of c.keys()) needed.add(b);
          else needs.unknown.set(base, [...(needs.unknown.get(base) ?? []), `${image.name}@${digest}`]);
        }
      }
    }
  }
  return needs;
}

export function planBlobBuckets(p: ImageProject, observed: Observed, options: PlanOptions, errors: PlanError[], needs: BucketNeeds): DestinationPlan[] {
  const buckets = p.blobBuckets ?? [];
  if (buckets.length === 0) return [];
  const items = p.images.reduce((n, i) => n + i.dmap.size, 0);
  const { destinations, reachable } = destinationPlans(buckets, observed, errors, items);
  const stagingDown = observed.unreachable.has(p.src);
  for (const d of reachable) {
    const base = d.destination;
    const ledger = observed.ledgers.get(ledgerKey(p.id, base)) ?? emptyLedger();
    const state = observed.filestores.get(base);
    const wanted = new Map<string, number>();
    for (const image of p.images) {
      for (const digest of image.dmap.keys()) {
        const c = closureOf(p, digest, observed, ledger);
        if (c) for (const [b, size] of c) wanted.set(b, Math.max(size, wanted.get(b) ?? 0));
        else if (!stagingDown) errors.push({ kind: 'missing-in-staging', destination: '', message: `${p.src}/${image.name}@${digest} is not in staging (its blobs are needed for ${base})` });
      }
    }
    for (const [blob, bytes] of wanted) {
      const key = blobKey(blob);
      const sha256 = blob.slice('sha256:'.length);
      if (ledger.files.get(key) === sha256 && !ledger.pending?.has(key)) continue; // listed (confirmed): not looked at again
      const cur = state?.get(key);
      if (cur?.sha256 === sha256) continue; // already there (recorded in the ledger by the next run that writes it)
      if (!cur) d.actions.push({ kind: 'copy-file', name: key, sha256, bytes });
      else d.actions.push({ kind: 'replace-file', name: key, from: cur.sha256 ?? 'unknown', sha256, bytes });
      d.bytes += bytes;
    }
    const needed = needs.needed.get(base) ?? new Set<string>();
    const prunable = [...ledger.files.keys()].filter((name) => {
      const digest = digestOfBlobKey(name);
      return digest !== undefined && !needed.has(digest);
    });
    d.prunable = prunable.length;
    if (!options.prune || prunable.length === 0) continue;
    // Deleting needs the full picture: every kept image's blobs, and every project sharing the bucket.
    const unknown = needs.unknown.get(base) ?? [];
    if (unknown.length > 0) {
      errors.push({
        kind: 'prune-blocked',
        destination: base,
        message: `${base}: not pruned: the blobs of ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''} are unknown (not in staging, not in the ledger), so a blob still needed could be deleted`,
      });
    } else if (options.partial) {
      errors.push({
        kind: 'prune-blocked',
        destination: base,
        message: `${base}: not pruned in a run limited to some projects (--project): other projects filling this bucket may need its blobs; prune with the whole manifests tree`,
      });
    } else {
      for (const name of prunable) d.actions.push({ kind: 'delete-file', name, sha256: ledger.files.get(name) as string });
    }
  }
  return destinations;
}
