// The planner: a pure function from the loaded manifests and an observed snapshot to what a run
// would do, per project and destination. Nothing is fetched or written here, so a dry run and a
// confirmed run plan identically, and the same inputs always give the same plan.
import { ledgerKey, type Ledger } from './ledger.js';
import type { FileProject, ImageProject, Project } from './model.js';
import type { Observed, RepoState } from './observed.js';
import { endpointOf } from './observe-reach.js';
import { bucketNeeds, planBlobBuckets, type BucketNeeds } from './plan-blobs.js';

export type Action =
  | { kind: 'copy-image'; name: string; digest: string; bytes: number }
  /**
   * Signatures, attestations, SBOMs staging has for a digest already here (or for a child of it):
   * tags missing here, tags whose content differs from staging's (staging is authoritative for
   * these tags only), and referrers listed by staging's OCI referrers API that are missing here.
   */
  | { kind: 'copy-referrers'; name: string; digest: string; tags: string[]; changed: string[]; referrers: string[] }
  | { kind: 'tag'; name: string; tag: string; digest: string }
  /** A tag moving to another digest: only when the manifest marks the tag as a rollback. */
  | { kind: 'move'; name: string; tag: string; from: string; digest: string }
  | { kind: 'copy-file'; name: string; sha256: string; bytes: number }
  /** A file whose production content changes: only when the manifest marks it as a rollback. */
  | { kind: 'replace-file'; name: string; from: string; sha256: string; bytes: number }
  | { kind: 'delete-image'; name: string; digest: string }
  | { kind: 'delete-tag'; name: string; tag: string; digest: string }
  | { kind: 'delete-file'; name: string; sha256: string };

/** `prune-blocked`: a blob bucket's prune cannot tell which blobs are still needed (issue 13). */
export type ErrorKind = 'missing-in-staging' | 'hash-mismatch' | 'tag-move' | 'file-conflict' | 'unreachable' | 'prune-blocked';

export interface PlanError {
  kind: ErrorKind;
  /** Empty for staging problems (they concern every destination). */
  destination: string;
  message: string;
  /** unreachable only: the location not checked, how many manifest items (digests, files) it has for this project, and its endpoint when the endpoint itself is down (issue 8). */
  location?: string;
  items?: number;
  endpoint?: string;
}

export interface DestinationPlan {
  destination: string;
  actions: Action[];
  bytes: number;
  /** Ledger entries that `--prune` would delete (counted also when prune is off, to say so). */
  prunable: number;
  /** Ledger entries no longer matching production (not deleted: someone else changed them). */
  notOwned: string[];
}

export interface ProjectPlan {
  id: string;
  project: string;
  kind: Project['kind'];
  src: string;
  destinations: DestinationPlan[];
  /** Any error skips the whole project in a confirmed run: a release goes out whole or not at all. */
  errors: PlanError[];
}

export interface Plan {
  projects: ProjectPlan[];
  prune: boolean;
  /** Endpoints (registry host, bucket) no connection could be made to in this run, and the first error. */
  down?: Map<string, { reason: string; items: number }>;
}

export interface PlanOptions {
  prune: boolean;
  /**
   * Check staging for every artifact (validate --online). Otherwise only for what some destination
   * still lacks: staging areas are allowed to be cleaned up after promotion.
   */
  checkAllStaging?: boolean;
  /** Only some projects were loaded (--project): blob buckets shared by projects are not pruned. */
  partial?: boolean;
}

export function plan(projects: readonly Project[], observed: Observed, options: PlanOptions): Plan {
  let shared: BucketNeeds | undefined;
  const needs = () => {
    shared ??= bucketNeeds(projects, observed);
    return shared;
  };
  return {
    prune: options.prune,
    projects: projects.map((p) => (p.kind === 'images' ? withBlobBuckets(planImages(p, observed, options), p, observed, options, needs()) : planFiles(p, observed, options))),
    ...(observed.down && observed.down.size > 0 ? { down: observed.down } : {}),
  };
}

const EMPTY_REPO: RepoState = { tags: new Map(), digests: new Set() };
const EMPTY_LEDGER: Ledger = { images: new Map(), files: new Map() };

/** The error for a location that could not be read, tied to its endpoint when the endpoint is down. */
function unreachableError(location: string, destination: string, message: string, observed: Observed, items: number): PlanError {
  const endpoint = endpointOf(location);
  return { kind: 'unreachable', destination, message, location, items, ...(observed.down?.has(endpoint) ? { endpoint } : {}) };
}

/** An empty plan per destination, and those of them that can be planned: an unreachable one is an error. */
export function destinationPlans(names: readonly string[], observed: Observed, errors: PlanError[], items: number): { destinations: DestinationPlan[]; reachable: DestinationPlan[] } {
  const destinations: DestinationPlan[] = [];
  const reachable: DestinationPlan[] = [];
  for (const dest of names) {
    const d: DestinationPlan = { destination: dest, actions: [], bytes: 0, prunable: 0, notOwned: [] };
    destinations.push(d);
    const why = observed.unreachable.get(dest);
    if (why === undefined) reachable.push(d);
    else errors.push(unreachableError(dest, dest, `${dest}: ${why}`, observed, items));
  }
  return { destinations, reachable };
}

/** The project's blob buckets (issue 13) planned after its registries. */
function withBlobBuckets(pp: ProjectPlan, p: ImageProject, observed: Observed, options: PlanOptions, needs: BucketNeeds): ProjectPlan {
  if (!p.blobBuckets?.length) return pp;
  return { ...pp, destinations: [...pp.destinations, ...planBlobBuckets(p, observed, options, pp.errors, needs)] };
}

function planImages(p: ImageProject, observed: Observed, options: PlanOptions): ProjectPlan {
  const errors: PlanError[] = [];
  const unreachableSrc = observed.unreachable.get(p.src);
  const items = p.images.reduce((n, i) => n + i.dmap.size, 0);
  if (unreachableSrc !== undefined) errors.push(unreachableError(p.src, '', `staging ${p.src}: ${unreachableSrc}`, observed, items));
  const staging = observed.registries.get(p.src);
  if (unreachableSrc === undefined) {
    for (const image of p.images) {
      const repo = staging?.get(image.name) ?? EMPTY_REPO;
      for (const digest of image.dmap.keys()) {
        const needed = options.checkAllStaging || p.destinations.some((d) => !observed.registries.get(d)?.get(image.name)?.digests.has(digest));
        if (needed && !repo.digests.has(digest)) errors.push({ kind: 'missing-in-staging', destination: '', message: `${p.src}/${image.name}@${digest} is not in staging` });
      }
    }
  }
  const { destinations, reachable } = destinationPlans(p.destinations, observed, errors, items);
  for (const d of reachable) {
    const dest = d.destination;
    const state = observed.registries.get(dest);
    const wanted = new Map<string, Set<string>>(); // name -> wanted digests, for prune
    for (const image of p.images) {
      const repo = state?.get(image.name) ?? EMPTY_REPO;
      wanted.set(image.name, new Set(image.dmap.keys()));
      // Only a staging repository holding signatures, attestations or referrers can add any.
      const stagingRepo = staging?.get(image.name);
      const stagingRefs = stagingRepo && hasReferrerInfo(stagingRepo) ? stagingRepo : undefined;
      for (const [digest, tags] of image.dmap) {
        if (!repo.digests.has(digest)) {
          const bytes = observed.imageBytes.get(digest) ?? 0;
          d.actions.push({ kind: 'copy-image', name: image.name, digest, bytes });
          d.bytes += bytes;
        } else if (stagingRefs) {
          // Already promoted: signatures etc. pushed to staging later must follow it.
          const a = referrerAction(image.name, digest, stagingRefs, repo, observed);
          if (a) d.actions.push(a);
        }
        for (const tag of tags) {
          const current = repo.tags.get(tag);
          if (current === digest) continue;
          if (current === undefined) d.actions.push({ kind: 'tag', name: image.name, tag, digest });
          else if (image.rollback.has(tag)) d.actions.push({ kind: 'move', name: image.name, tag, from: current, digest });
          else errors.push({ kind: 'tag-move', destination: dest, message: `${dest}/${image.name}:${tag} is ${current}; the manifest says ${digest} (mark the tag in "rollback:" to move it)` });
        }
      }
    }
    pruneImages(p, dest, observed, wanted, state, d, options);
  }
  return { id: p.id, project: p.project, kind: p.kind, src: p.src, destinations, errors };
}

const REFERRER_TAG = /^sha256-[0-9a-f]{64}(?:\.sig|\.att|\.sbom)?$/;
/** Whether a staging repository has any referrer tag or API referrer (asked per repository: at 10k digests × 40 destinations, asking per digest costs seconds). */
function hasReferrerInfo(staging: RepoState): boolean {
  if ((staging.referrers?.size ?? 0) > 0) return true;
  for (const t of staging.tags.keys()) if (REFERRER_TAG.test(t)) return true;
  return false;
}

/** What of staging's referrers of a digest (and of its children) a destination lacks, if anything. */
function referrerAction(name: string, digest: string, staging: RepoState, dest: RepoState, observed: Observed): Action | undefined {
  const tags: string[] = [];
  const changed: string[] = [];
  const referrers: string[] = [];
  for (const subject of [digest, ...(observed.children?.get(digest) ?? [])]) {
    for (const tag of referrerTags(subject)) {
      const want = staging.tags.get(tag);
      if (want === undefined || dest.listed === undefined) continue;
      if (!dest.listed.has(tag)) tags.push(tag);
      else if (dest.tags.get(tag) !== want) changed.push(tag);
    }
    for (const r of staging.referrers?.get(subject) ?? []) if (!dest.digests.has(r) && !referrers.includes(r)) referrers.push(r);
  }
  if (tags.length + changed.length + referrers.length === 0) return undefined;
  return { kind: 'copy-referrers', name, digest, tags, changed, referrers };
}

/** The tag-schema referrers of a digest: the OCI fallback index and cosign's signature, attestation and SBOM tags. */
export function referrerTags(digest: string): string[] {
  const base = `sha256-${digest.slice('sha256:'.length)}`;
  return [base, `${base}.sig`, `${base}.att`, `${base}.sbom`];
}

function pruneImages(p: ImageProject, dest: string, observed: Observed, wanted: Map<string, Set<string>>, state: Map<string, RepoState> | undefined, d: DestinationPlan, options: PlanOptions): void {
  const ledger = observed.ledgers.get(ledgerKey(p.id, dest)) ?? EMPTY_LEDGER;
  if (ledger.images.size === 0) return;
  const wantedTags = new Map<string, Set<string>>();
  for (const image of p.images) wantedTags.set(image.name, new Set([...image.dmap.values()].flat()));
  for (const [name, owned] of ledger.images) {
    const repo = state?.get(name) ?? EMPTY_REPO;
    const keep = wanted.get(name);
    const deleted = new Set<string>();
    for (const digest of owned.digests) {
      if (keep?.has(digest)) continue;
      if (!repo.digests.has(digest)) continue; // already gone: the ledger just forgets it
      d.prunable++;
      deleted.add(digest);
      if (options.prune) d.actions.push({ kind: 'delete-image', name, digest });
    }
    const keepTags = wantedTags.get(name);
    for (const [tag, digest] of owned.tags) {
      if (keepTags?.has(tag) || deleted.has(digest)) continue;
      const current = repo.tags.get(tag);
      if (current === undefined) continue;
      if (current !== digest) {
        d.notOwned.push(`${name}:${tag}`);
        continue;
      }
      d.prunable++;
      if (options.prune) d.actions.push({ kind: 'delete-tag', name, tag, digest });
    }
  }
}

function planFiles(p: FileProject, observed: Observed, options: PlanOptions): ProjectPlan {
  const errors: PlanError[] = [];
  const unreachableSrc = observed.unreachable.get(p.src);
  const items = p.entries.length;
  if (unreachableSrc !== undefined) errors.push(unreachableError(p.src, '', `staging ${p.src}: ${unreachableSrc}`, observed, items));
  const staging = observed.filestores.get(p.src);
  const sizes = new Map<string, number>();
  if (unreachableSrc === undefined) {
    for (const f of p.entries) {
      const needed = options.checkAllStaging || p.destinations.some((d) => observed.filestores.get(d)?.get(f.name)?.sha256 !== f.sha256);
      if (!needed) continue;
      const s = staging?.get(f.name);
      if (!s) errors.push({ kind: 'missing-in-staging', destination: '', message: `${p.src}${f.name} is not in staging` });
      else if (s.sha256 !== undefined && s.sha256 !== f.sha256) errors.push({ kind: 'hash-mismatch', destination: '', message: `${p.src}${f.name} has sha256 ${s.sha256}; the manifest says ${f.sha256}` });
      else sizes.set(f.name, s.size);
    }
  }
  const { destinations, reachable } = destinationPlans(p.destinations, observed, errors, items);
  for (const d of reachable) {
    const dest = d.destination;
    const state = observed.filestores.get(dest);
    for (const f of p.entries) {
      const cur = state?.get(f.name);
      const bytes = sizes.get(f.name) ?? 0;
      if (!cur) {
        d.actions.push({ kind: 'copy-file', name: f.name, sha256: f.sha256, bytes });
        d.bytes += bytes;
      } else if (cur.sha256 === f.sha256) {
        // already there
      } else if (f.rollback) {
        d.actions.push({ kind: 'replace-file', name: f.name, from: cur.sha256 ?? 'unknown', sha256: f.sha256, bytes });
        d.bytes += bytes;
      } else {
        errors.push({ kind: 'file-conflict', destination: dest, message: `${dest}${f.name} has sha256 ${cur.sha256 ?? 'unknown'}; the manifest says ${f.sha256} (mark the file "rollback: true" to replace it)` });
      }
    }
    const ledger = observed.ledgers.get(ledgerKey(p.id, dest)) ?? EMPTY_LEDGER;
    if (ledger.files.size > 0) {
      const wanted = new Set(p.entries.map((f) => f.name));
      for (const [name, sha256] of ledger.files) {
        if (wanted.has(name)) continue;
        const cur = state?.get(name);
        if (!cur) continue;
        if (cur.sha256 !== sha256) {
          d.notOwned.push(name);
          continue;
        }
        d.prunable++;
        if (options.prune) d.actions.push({ kind: 'delete-file', name, sha256 });
      }
    }
  }
  return { id: p.id, project: p.project, kind: p.kind, src: p.src, destinations, errors };
}

/** True if the plan has anything to do at all. */
export function hasWork(plan: Plan): boolean {
  return plan.projects.some((p) => p.destinations.some((d) => d.actions.length > 0));
}

export function hasErrors(plan: Plan): boolean {
  return plan.projects.some((p) => p.errors.length > 0);
}
