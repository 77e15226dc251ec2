// One promotion run: load manifests, observe staging and production, plan, print the plan, and
// with `confirm` execute it. A project with errors is reported and skipped; the rest go ahead.
import type { CliIO } from '../commands/io.js';
import type { Backends } from './backends.js';
import type { ActionResult } from './execute-destination.js';
import { executeFiles } from './execute-files.js';
import { StagingBytes } from './staging-bytes.js';
import { Slots } from './pool.js';
import { loadManifests } from './load.js';
import type { FileProject, ImageProject, Project } from './model.js';
import { executeImages } from './execute-images.js';
import { executeBlobBuckets } from './execute-blobs.js';
import { observeBlobBuckets } from './observe-blobs.js';
import { observeImages } from './observe-images.js';
import { observeFiles } from './observe-files.js';
import { endpointOf, Reachability } from './observe-reach.js';
import { emptyObserved, type Observed } from './observed.js';
import { plan as makePlan, type Plan } from './plan.js';
import { describe, renderPlan } from './render.js';
import { DEFAULT_RETRY, type RetryOptions } from '../net/retry.js';
import { OWNERSHIP_KEY_ENV, writeFileToken, writeRegistryToken } from '../trust/ownership.js';
import { acquire, DEFAULT_LEASE, fileLeaseSlot, registryLeaseSlot, type Lease, type LeaseOptions } from './lease.js';
import { hostOf } from './observe-images.js';
import { formatFinding } from './yaml-file.js';
import { errorMessage } from '../util/error-message.js';

export interface PromoteOptions {
  dir: string;
  confirm: boolean;
  prune: boolean;
  project?: string | undefined;
  parallel: number;
  retry?: RetryOptions;
  /** Print every planned action, however large the plan (otherwise large plans are summarised). */
  verbose?: boolean;
  /** Destination leases of a confirmed run (waiting, renewal, staleness); see lease.ts. */
  lease?: Partial<LeaseOptions>;
  /**
   * How long deletions wait after the ledger marking them retiring is written (execute-destination.ts);
   * 0 when not given here (the CLI's default is DEFAULT_PRUNE_GRACE_MS).
   */
  pruneGraceMs?: number;
}

/**
 * `promote --prune-grace` by default: redirectors that read the ledger from a file it is synced to
 * see a single file at once (watched) and a directory on SIGHUP; the grace covers that sync and
 * reload plus the pulls already sent to a mirror before it, which for a large image take minutes.
 */
export const DEFAULT_PRUNE_GRACE_MS = 10 * 60_000;

export interface PromoteResult {
  exitCode: number;
  plan: Plan;
  results: ActionResult[];
}

export async function promote(opts: PromoteOptions, backends: Backends, out: CliIO): Promise<PromoteResult> {
  const loaded = await loadManifests(opts.dir, opts.project);
  for (const f of loaded.findings) out.stderr(`${formatFinding(f)}\n`);
  if (opts.project && loaded.projects.length === 0 && loaded.skipped.size === 0) {
    out.stderr(`no project named ${opts.project} in ${opts.dir}\n`);
    return { exitCode: 1, plan: { projects: [], prune: opts.prune }, results: [] };
  }
  // A confirmed run leases every destination before observing it, and holds the leases until its
  // final ledgers are written: one run at a time writes a destination, and it plans from a state
  // no other run is changing. A destination another run holds is reported, not written.
  const reach = new Reachability();
  const leases: { dest: string; lease: Lease }[] = [];
  const locked = new Map<string, string>();
  if (opts.confirm) {
    const leaseOpts = { ...DEFAULT_LEASE, ...opts.lease };
    const destinations = new Map<string, Project['kind']>();
    for (const p of loaded.projects) for (const d of p.destinations) destinations.set(d, p.kind);
    // Blob buckets are leased, and get their ownership token, like file destinations (issue 13).
    for (const p of loaded.projects) for (const d of p.kind === 'images' ? (p.blobBuckets ?? []) : []) destinations.set(d, 'files');
    const leaseOne = async (dest: string, kind: Project['kind']): Promise<void> => {
      try {
        const slot = kind === 'files' ? fileLeaseSlot(backends.store(dest)) : registryLeaseSlot(backends.registry(hostOf(dest)), dest);
        // acquire() retries itself; the reachability check only stops at a down endpoint.
        leases.push({ dest, lease: await reach.call(dest, () => acquire(slot, leaseOpts, opts.retry ?? DEFAULT_RETRY), { attempts: 1, baseMs: 0, maxMs: 0 }) });
      } catch (e) {
        locked.set(dest, errorMessage(e));
        return;
      }
      // Issue 9: the token that lets redirectors tell this destination from a look-alike.
      const key = process.env[OWNERSHIP_KEY_ENV];
      if (key) {
        await (kind === 'files' ? writeFileToken(backends.store(dest), dest, key) : writeRegistryToken(backends.registry(hostOf(dest)), dest, key)).catch((e: unknown) =>
          out.stderr(`${dest}: ownership token not written: ${errorMessage(e)}\n`),
        );
      }
    };
    // Per endpoint, one destination first: if its endpoint cannot be connected to, the others
    // there are not tried (issue 8); then the rest of that endpoint's destinations at once.
    const byEndpoint = new Map<string, [string, Project['kind']][]>();
    for (const entry of destinations) byEndpoint.set(endpointOf(entry[0]), [...(byEndpoint.get(endpointOf(entry[0])) ?? []), entry]);
    await Promise.all(
      [...byEndpoint.values()].map(async ([first, ...rest]) => {
        if (first) await leaseOne(...first);
        await Promise.all(rest.map((entry) => leaseOne(...entry)));
      }),
    );
  }
  try {
    return await run(opts, backends, out, loaded, locked, reach);
  } finally {
    // Not over the network at an endpoint that went down: that lease is stale once this process
    // is gone (or after --lease-stale), and the next run takes it over.
    await Promise.all(leases.map(({ dest, lease }) => lease.release(reach.down.has(endpointOf(dest))).catch(() => undefined)));
  }
}

async function run(opts: PromoteOptions, backends: Backends, out: CliIO, loaded: Awaited<ReturnType<typeof loadManifests>>, locked: Map<string, string>, reach: Reachability): Promise<PromoteResult> {
  // A confirmed run keeps the staging bytes it hashes for the copy: each byte is read once.
  const stagingBytes = opts.confirm ? new StagingBytes() : undefined;
  const observed = await observe(loaded.projects, backends, opts.parallel, false, opts.retry ?? DEFAULT_RETRY, reach, stagingBytes);
  for (const [dest, why] of locked) observed.unreachable.set(dest, `no lease: ${why}`);
  const plan = makePlan(loaded.projects, observed, { prune: opts.prune, partial: opts.project !== undefined });
  const leftOut = loaded.findings.filter((f) => f.entryOnly).length;
  out.stdout(renderPlan(plan, loaded.skipped, { verbose: opts.verbose === true, confirm: opts.confirm, leftOut }));
  const hadErrors = loaded.skipped.size > 0 || loaded.findings.some((f) => f.severity === 'error') || plan.projects.some((p) => p.errors.length > 0);
  if (!opts.confirm) return { exitCode: hadErrors ? 1 : 0, plan, results: [] };

  const results: ActionResult[] = [];
  const downBefore = new Set(reach.down.keys());
  const onResult = (r: ActionResult) => {
    // One line per finished action: progress for a long run, and the audit trail of what changed.
    if (r.error) out.stderr(`failed: ${r.destination}: ${describe(r.action)}: ${r.error}\n`);
    else out.stdout(`done: ${r.destination}: ${describe(r.action)}\n`);
  };
  // --parallel bounds the whole run: all destinations of a project draw from these slots.
  const slots = new Slots(opts.parallel);
  for (const pp of plan.projects) {
    if (pp.errors.length > 0) continue;
    const project = loaded.projects.find((p) => p.id === pp.id) as Project;
    const onGrace = (destination: string, waitMs: number) => out.stdout(`waiting: ${destination}: ${Math.ceil(waitMs / 1000)}s of prune grace (the ledger marks what will be deleted as retiring) before deleting\n`);
    const execOpts = { parallel: opts.parallel, retry: opts.retry ?? DEFAULT_RETRY, onResult, pruneGraceMs: opts.pruneGraceMs ?? 0, onGrace, slots, reach: { reachability: reach, sources: [project.src] } };
    if (project.kind === 'files') results.push(...(await executeFiles(project, pp, observed, (b) => backends.store(b), { ...execOpts, ...(stagingBytes ? { stagingBytes } : {}) })));
    else {
      // Registries and blob buckets of one project run side by side, each through its own executor.
      const buckets = new Set(project.blobBuckets ?? []);
      const only = (inBucket: boolean) => ({ ...pp, destinations: pp.destinations.filter((d) => buckets.has(d.destination) === inBucket) });
      const [images, blobs] = await Promise.all([
        executeImages(project, only(false), observed, (h) => backends.registry(h), execOpts),
        executeBlobBuckets(
          project,
          only(true),
          observed,
          (h) => backends.registry(h),
          (b) => backends.store(b),
          execOpts,
        ),
      ]);
      results.push(...images, ...blobs);
    }
  }
  const failed = results.filter((r) => r.error);
  // Endpoints that went down while executing: named once, with what was not tried there.
  for (const [endpoint, d] of reach.down) {
    if (!downBefore.has(endpoint)) out.stderr(`unreachable: ${endpoint}: ${d.reason}; went down during the run, ${d.items} action(s) or ledger write(s) there failed or were not tried; rerun when it is back\n`);
  }
  out.stdout(`Done: ${results.length - failed.length} action(s) succeeded, ${failed.length} failed.\n`);
  return { exitCode: hadErrors || failed.length > 0 ? 1 : 0, plan, results };
}

export async function observe(projects: readonly Project[], backends: Backends, parallel: number, checkAllStaging: boolean, retry: RetryOptions, reach = new Reachability(), keep?: StagingBytes): Promise<Observed> {
  const observed = emptyObserved();
  const files = projects.filter((p): p is FileProject => p.kind === 'files');
  const images = projects.filter((p): p is ImageProject => p.kind === 'images');
  await Promise.all([
    observeFiles(files, (b) => backends.store(b), observed, { parallel, hashAllStaging: checkAllStaging, retry, reach, ...(keep ? { keep } : {}) }),
    // Blob buckets after the registries: they reuse staging's tag lists the image observer made.
    observeImages(images, (h) => backends.registry(h), observed, { parallel, retry, checkAllStaging, reach }).then(() =>
      observeBlobBuckets(
        images,
        (h) => backends.registry(h),
        (b) => backends.store(b),
        observed,
        { parallel, retry, reach, checkLedgered: checkAllStaging },
      ),
    ),
  ]);
  return observed;
}
