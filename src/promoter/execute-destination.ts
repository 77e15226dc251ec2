// The one shape of carrying out a plan at one destination, for files and images alike:
//   1. write the intent ledger: what the destination's ledger will claim once the actions ran;
//      if it cannot be written, nothing is written (an unrecorded object could never be pruned);
//   2. carry out the actions, each retried on its own and reported as it finishes;
//   3. write the final ledger: exactly what production now holds from this project. If that
//      fails, the intent ledger stays: it over-claims, which is safe (prune checks content first).
// Each kind of project says how its actions change a ledger, how to carry them out, and where
// its ledger lives.
import type { Ledger } from './ledger.js';
import { serialiseLedger } from './ledger.js';
import type { Action } from './plan.js';
import { mapPool } from './pool.js';
import { withRetry, type RetryOptions } from '../net/retry.js';
import { errorMessage } from '../util/error-message.js';

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
  const save = async (ledger: Ledger, previous: Ledger): Promise<void> => {
    const text = serialiseLedger(ledger, work.project, destination);
    if (text === serialiseLedger(previous, work.project, destination)) return;
    await withRetry(() => work.writeLedger(text), opts.retry);
  };
  const report = (r: ActionResult): ActionResult => {
    opts.onResult?.(r);
    return r;
  };

  const intent = work.intent(work.before);
  try {
    await save(intent, work.before);
  } catch (e) {
    // Without the intent recorded nothing may be written: it could never be pruned later.
    return work.actions.map((action) => report({ destination, action, error: `ledger not writable: ${errorMessage(e)}` }));
  }

  const run: RunActions = async (actions, fn) => {
    const settled = await mapPool(actions, opts.parallel, async (action) => {
      try {
        await withRetry(() => fn(action), opts.retry);
        return report({ destination, action });
      } catch (e) {
        return report({ destination, action, error: errorMessage(e) });
      }
    });
    return settled.map((r) => (r.status === 'fulfilled' ? r.value : unreachable(r.reason)));
  };
  const results = await work.perform(run, report);

  try {
    await save(work.after(work.before, results), intent);
  } catch (e) {
    // The intent ledger stays: it over-claims (safe for prune, which checks content first).
    opts.onResult?.({ destination, action: work.actions[0] as Action, error: `final ledger not written: ${errorMessage(e)}` });
  }
  return results;
}

function unreachable(reason: unknown): never {
  throw reason; // each task above catches its own errors; a rejection here is a bug
}
