// Carry out one file project's plan: per destination (the skeleton in execute-destination.ts:
// intent ledger, actions, final ledger), copy each file from staging through a sha256 verifier
// into an atomic write, then prune. Every copy succeeds or fails on its own.
import { executeDestination, type ActionResult, type ExecuteOptions } from './execute-destination.js';
import { cloneLedger, emptyLedger, ledgerKey, ledgerObjectName, type Ledger } from './ledger.js';
import type { FileProject } from './model.js';
import type { Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import type { FileStore } from './stores/store.js';
import { verified } from './verify.js';

type FileWrite = Extract<Action, { kind: 'copy-file' | 'replace-file' }>;

export async function executeFiles(project: FileProject, plan: ProjectPlan, observed: Observed, store: (base: string) => FileStore, opts: ExecuteOptions): Promise<ActionResult[]> {
  const src = store(project.src);
  const perDest = await Promise.all(
    plan.destinations.map(async (d) => {
      if (d.actions.length === 0) return [];
      const dest = store(d.destination);
      const writes = d.actions.filter((a): a is FileWrite => a.kind === 'copy-file' || a.kind === 'replace-file');
      const fingerprints = new Map<string, string>();
      return executeDestination(
        {
          project: project.project,
          destination: d.destination,
          actions: d.actions,
          before: observed.ledgers.get(ledgerKey(project.id, d.destination)) ?? emptyLedger(),
          intent: (before) => {
            const intent = cloneLedger(before);
            for (const a of writes) {
              intent.files.set(a.name, a.sha256);
              intent.fingerprints?.delete(a.name); // the content changes: an old fingerprint no longer holds
            }
            return intent;
          },
          perform: async (run) => [
            ...(await run(writes, async (a) => {
              const written = await dest.write(a.name, verified(await src.read(a.name), a.sha256, `${project.src}${a.name}`, a.bytes), a.bytes, a.sha256);
              if (written?.fingerprint) fingerprints.set(a.name, written.fingerprint);
            })),
            ...(await run(
              d.actions.filter((a) => a.kind === 'delete-file'),
              (a) => dest.delete(a.name),
            )),
          ],
          after: (before, results) => afterFiles(before, results, fingerprints),
          writeLedger: (text) => dest.writeText(ledgerObjectName(project.id), text),
        },
        opts,
      );
    }),
  );
  return perDest.flat();
}

/** The ledger now says exactly what we wrote and still own. */
export function afterFiles(before: Ledger, results: readonly ActionResult[], fingerprints: ReadonlyMap<string, string>): Ledger {
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
  return after;
}
