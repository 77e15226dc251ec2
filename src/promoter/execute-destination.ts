// The one shape of carrying out a plan at one destination, for files and images alike:
//   1. write the intent ledger: what the destination's ledger will claim once the actions ran;
//      if it cannot be written, nothing is written (an unrecorded object could never be pruned);
//   2. carry out the actions, each retried on its own and reported as it finishes;
//   3. write the final ledger: exactly what production now holds from this project. If that
//      fails, the intent ledger stays: it over-claims, which is safe (prune checks content first).
// Each kind of project says how its actions change a ledger, how to carry them out, and where
// its ledger lives.
//
// Deletions (prune) go through a grace: the intent ledger keeps what will be deleted but marks it
// retiring (since when: kept from an earlier run's ledger, else now); redirectors that read the
// ledger stop sending clients to mirrors for it. The deletions start once `pruneGraceMs` has
// passed since the latest of those marks; a crash meanwhile leaves the marks, so a rerun that
// plans the same deletions waits only for what is left of the grace.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ledger } from './ledger.js';
import { hasEntry, retiringKey, serialiseLedger, stampPromoted } from './ledger.js';
import type { Action } from './plan.js';
import { mapPool, type Slots } from './pool.js';
import { withRetry, type RetryOptions } from '../net/retry.js';
import { errorMessage } from '../util/error-message.js';
import type { Reachability } from './observe-reach.js';

export interface ActionResult {
  destination: string;
  action: Action;
  error?: string;
}

export interface ExecuteOptions {
  parallel: number;
  retry: RetryOptions;
  /** Progress: called once per finished action. */
  onResult?: (r: ActionResult) => void;
  /** How long deletions wait after their entries were published as retiring (default 0). */
  pruneGraceMs?: number;
  /** Called once before a destination waits for the grace, with how long. */
  onGrace?: (destination: string, waitMs: number) => void;
  /** The clock (tests). */
  now?: () => number;
  /**
   * Issue 8: the run's reachability. An endpoint (this destination's, or one of `sources`) that
   * cannot be connected to is marked down once; the actions after it fail at once, naming it,
   * instead of each paying the retries.
   */
  reach?: { reachability: Reachability; sources: readonly string[] };
  /** Shared by every destination of the run: `parallel` bounds the whole run, not each destination. */
  slots?: Slots;
}

const DELETES: ReadonlySet<Action['kind']> = new Set(['delete-image', 'delete-tag', 'delete-file']);

export function isDelete(a: Action): boolean {
  return DELETES.has(a.kind);
}

/**
 * The ledger `intent` with exactly the entries `deletes` remove marked retiring: since the mark
 * in `before` when there is one, else `now`. Marks of entries no longer planned for deletion are
 * dropped (the object stays, so it is expected again). A deleted image retires its tags with it.
 */
export function markRetiring(intent: Ledger, before: Ledger, deletes: readonly Action[], now: number): Ledger {
  const retiring = new Map<string, string>();
  const stamp = new Date(now).toISOString();
  const mark = (key: string) => {
    if (hasEntry(intent, key)) retiring.set(key, before.retiring?.get(key) ?? stamp);
  };
  for (const a of deletes) {
    if (a.kind === 'delete-file') mark(retiringKey({ name: a.name }));
    else if (a.kind === 'delete-tag') mark(retiringKey({ name: a.name, tag: a.tag }));
    else if (a.kind === 'delete-image') {
      mark(retiringKey({ name: a.name, digest: a.digest }));
      for (const [tag, digest] of intent.images.get(a.name)?.tags ?? []) if (digest === a.digest) mark(retiringKey({ name: a.name, tag }));
    }
  }
  return { ...intent, retiring };
}

/** When the deletions may start: the grace after the latest retiring mark. */
export function graceEnds(intent: Ledger, graceMs: number): number {
  let latest = Number.NEGATIVE_INFINITY;
  for (const since of intent.retiring?.values() ?? []) latest = Math.max(latest, Date.parse(since));
  return latest + graceMs;
}

/** Carries out some actions in parallel, each retried and reported; the results in their order. */
export type RunActions = <A extends Action>(actions: readonly A[], fn: (a: A) => Promise<void>) => Promise<ActionResult[]>;

export interface DestinationWork {
  /** The project (its name goes into the ledger) and the destination location. */
  project: string;
  destination: string;
  actions: readonly Action[];
  /** The ledger as observed before the run (empty when there was none). */
  before: Ledger;
  /** What the ledger claims before anything is written. */
  intent(before: Ledger): Ledger;
  /** Carry out the actions through `run`; an action it skips gets a result through `report`. */
  perform(run: RunActions, report: (r: ActionResult) => ActionResult): Promise<ActionResult[]>;
  /** What the ledger says after the run: `before` changed by the actions that succeeded. */
  after(before: Ledger, results: readonly ActionResult[]): Ledger;
  /** Store a serialised ledger at the destination (one attempt; the skeleton retries). */
  writeLedger(text: string): Promise<void>;
}

export async function executeDestination(work: DestinationWork, opts: ExecuteOptions): Promise<ActionResult[]> {
  const { destination } = work;
  const reach = opts.reach;
  const attempt = <T>(fn: () => Promise<T>, locations: readonly string[] = [destination]): Promise<T> => (reach ? reach.reachability.call(locations, fn, opts.retry, { detail: true }) : withRetry(fn, opts.retry));
  const save = async (ledger: Ledger, previous: Ledger): Promise<void> => {
    const text = serialiseLedger(ledger, work.project, destination);
    if (text === serialiseLedger(previous, work.project, destination)) return;
    await attempt(() => work.writeLedger(text));
  };
  const report = (r: ActionResult): ActionResult => {
    opts.onResult?.(r);
    return r;
  };

  const now = opts.now ?? Date.now;
  const deletes = work.actions.filter(isDelete);
  const intent = markRetiring(work.intent(work.before), work.before, deletes, now());
  try {
    await save(intent, work.before);
  } catch (e) {
    // Without the intent recorded nothing may be written: it could never be pruned later.
    return work.actions.map((action) => report({ destination, action, error: `ledger not writable: ${errorMessage(e)}` }));
  }

  let graceWaited = false;
  const run: RunActions = async (actions, fn) => {
    if (!graceWaited && actions.some(isDelete)) {
      graceWaited = true;
      const wait = graceEnds(intent, opts.pruneGraceMs ?? 0) - now();
      if (wait > 0) {
        opts.onGrace?.(destination, wait);
        await sleep(wait);
      }
    }
    const settled = await mapPool(actions, opts.parallel, async (action) => {
      try {
        const once = () => attempt(() => fn(action), [destination, ...(reach?.sources ?? [])]);
        await (opts.slots ? opts.slots.run(once) : once());
        return report({ destination, action });
      } catch (e) {
        return report({ destination, action, error: errorMessage(e) });
      }
    });
    return settled.map((r) => (r.status === 'fulfilled' ? r.value : unreachable(r.reason)));
  };
  const results = await work.perform(run, report);

  try {
    // Entries whose deletion failed stay retiring (no client is sent to a mirror for them).
    const after = work.after(work.before, results);
    after.retiring = new Map([...(intent.retiring ?? [])].filter(([key]) => hasEntry(after, key)));
    // When each new or changed entry reached production: redirectors measure mirror lag from it.
    after.promoted = stampPromoted(work.before, after, now());
    await save(after, intent);
  } catch (e) {
    // The intent ledger stays: it over-claims (safe for prune, which checks content first).
    opts.onResult?.({ destination, action: work.actions[0] as Action, error: `final ledger not written: ${errorMessage(e)}` });
  }
  return results;
}

function unreachable(reason: unknown): never {
  throw reason; // each task above catches its own errors; a rejection here is a bug
}
