// Carry out one file project's plan: per destination, record intent in the ledger, copy each file
// from staging through a sha256 verifier into an atomic write, then prune, then write the ledger
// that matches what production now holds. Every copy succeeds or fails on its own.
import { cloneLedger, emptyLedger, ledgerKey, ledgerObjectName, serialiseLedger, type Ledger } from './ledger.js';
import type { FileProject } from './model.js';
import type { Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import { mapPool } from './pool.js';
import { withRetry, type RetryOptions } from '../net/retry.js';
import type { FileStore } from './stores/store.js';
import { verified } from './verify.js';
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

export async function executeFiles(project: FileProject, plan: ProjectPlan, observed: Observed, store: (base: string) => FileStore, opts: ExecuteOptions): Promise<ActionResult[]> {
  const src = store(project.src);
  const perDest = await Promise.all(
    plan.destinations.map(async (d) => {
      if (d.actions.length === 0) return [];
      const dest = store(d.destination);
      const before = observed.ledgers.get(ledgerKey(project.id, d.destination)) ?? emptyLedger();
      const writes = d.actions.filter((a) => a.kind === 'copy-file' || a.kind === 'replace-file');
      const intent = cloneLedger(before);
      for (const a of writes) {
        intent.files.set(a.name, a.sha256);
        intent.fingerprints?.delete(a.name); // the content changes: an old fingerprint no longer holds
      }
      try {
        await withRetry(() => saveLedger(dest, project, d.destination, intent, before), opts.retry);
      } catch (e) {
        // Without the intent recorded nothing may be written: it could never be pruned later.
        return d.actions.map((action) => {
          const r = { destination: d.destination, action, error: `ledger not writable: ${errorMessage(e)}` };
          opts.onResult?.(r);
          return r;
        });
      }

      const report = (r: ActionResult): ActionResult => {
        opts.onResult?.(r);
        return r;
      };
      const fingerprints = new Map<string, string>();
      const copies = await mapPool(writes, opts.parallel, async (a) => {
        try {
          const written = await withRetry(async () => dest.write(a.name, verified(await src.read(a.name), a.sha256, `${project.src}${a.name}`, a.bytes), a.bytes, a.sha256), opts.retry);
          if (written?.fingerprint) fingerprints.set(a.name, written.fingerprint);
          return report({ destination: d.destination, action: a });
        } catch (e) {
          return report({ destination: d.destination, action: a, error: errorMessage(e) });
        }
      });
      const deletes = d.actions.filter((a) => a.kind === 'delete-file');
      const deleted = await mapPool(deletes, opts.parallel, async (a) => {
        try {
          await withRetry(() => dest.delete(a.name), opts.retry);
          return report({ destination: d.destination, action: a });
        } catch (e) {
          return report({ destination: d.destination, action: a, error: errorMessage(e) });
        }
      });
      const results = [...copies, ...deleted].map((r) => (r.status === 'fulfilled' ? r.value : unreachable(r.reason)));

      // The ledger now says exactly what we wrote and still own.
      const after = cloneLedger(before);
      after.fingerprints ??= new Map();
      for (const r of results) {
        if (r.error) continue;
        const name = r.action.name;
        after.fingerprints.delete(name);
        if (r.action.kind === 'delete-file') after.files.delete(name);
        else if (r.action.kind === 'copy-file' || r.action.kind === 'replace-file') {
          after.files.set(name, r.action.sha256);
          const fp = fingerprints.get(name);
          if (fp) after.fingerprints.set(name, fp);
        }
      }
      try {
        await withRetry(() => saveLedger(dest, project, d.destination, after, intent), opts.retry);
      } catch (e) {
        // The intent ledger stays: it over-claims (safe for prune, which checks content first).
        opts.onResult?.({ destination: d.destination, action: d.actions[0] as Action, error: `final ledger not written: ${errorMessage(e)}` });
      }
      return results;
    }),
  );
  return perDest.flat();
}

function unreachable(reason: unknown): never {
  throw reason; // each task above catches its own errors; a rejection here is a bug
}

async function saveLedger(dest: FileStore, project: FileProject, destination: string, ledger: Ledger, previous: Ledger): Promise<void> {
  const text = serialiseLedger(ledger, project.project, destination);
  if (text === serialiseLedger(previous, project.project, destination)) return;
  await dest.writeText(ledgerObjectName(project.id), text);
}
