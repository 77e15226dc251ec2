// Carry out one file project's plan: per destination (the skeleton in execute-destination.ts:
// intent ledger, actions, final ledger), copy each file from staging through a sha256 verifier
// (or, in a confirmed run, from the bytes the plan already read and hashed) into an atomic write,
// then prune. Stores that can (folders) commit writes in batches: one flush for many files, all
// before the final ledger claims them. Every copy succeeds or fails on its own.
import type { Readable } from 'node:stream';
import { executeDestination, type ActionResult, type ExecuteOptions, type RunActions } from './execute-destination.js';
import { cloneLedger, emptyLedger, ledgerKey, ledgerObjectName, type Ledger } from './ledger.js';
import type { FileProject } from './model.js';
import type { Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import type { StagingBytes } from './staging-bytes.js';
import type { FileStore, WriteBatch } from './stores/store.js';
import { verified } from './verify.js';

type FileWrite = Extract<Action, { kind: 'copy-file' | 'replace-file' }>;

export interface ExecuteFilesOptions extends ExecuteOptions {
  /** Staging bytes the plan read and hashed (a confirmed run): written as they are, not read again. */
  stagingBytes?: StagingBytes;
}

/**
 * Batches of a store that commits writes together: up to this many files, or bytes once the
 * batch has a file per worker (so large files still copy in parallel); a long copy makes
 * progress (and reports it) batch by batch.
 */
const BATCH_FILES = 1000;
const BATCH_BYTES = 8 * 2 ** 20;

function batches(writes: readonly FileWrite[], parallel: number): FileWrite[][] {
  const out: FileWrite[][] = [];
  let current: FileWrite[] = [];
  let bytes = 0;
  for (const a of writes) {
    if (current.length >= BATCH_FILES || (current.length >= parallel && bytes + a.bytes > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(a);
    bytes += a.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

export async function executeFiles(project: FileProject, plan: ProjectPlan, observed: Observed, store: (base: string) => FileStore, opts: ExecuteFilesOptions): Promise<ActionResult[]> {
  const src = store(project.src);
  // The staging bytes: kept from the plan (read and hashed once, already verified), written as
  // they are (one write or request per file, no stream); else read again through the verifier.
  const body = async (a: FileWrite): Promise<Readable | Buffer> => opts.stagingBytes?.get(project.src, a.name, a.sha256) ?? verified(await src.read(a.name), a.sha256, `${project.src}${a.name}`, a.bytes);
  // Results of batched writes are reported once their batch is committed, not when staged.
  const held = new Set<Action>();
  const execOpts: ExecuteOptions = { ...opts, onResult: (r) => held.has(r.action) || opts.onResult?.(r) };
  const perDest = await Promise.all(
    plan.destinations.map(async (d) => {
      const key = ledgerKey(project.id, d.destination);
      // Objects of other tools hashed while planning: recorded, so that no rerun downloads them.
      const hashed = observed.hashed?.get(key);
      if (d.actions.length === 0 && !hashed?.size) return [];
      const dest = store(d.destination);
      const writes = d.actions.filter((a): a is FileWrite => a.kind === 'copy-file' || a.kind === 'replace-file');
      const fingerprints = new Map<string, string>();
      return executeDestination(
        {
          project: project.project,
          destination: d.destination,
          actions: d.actions,
          before: observed.ledgers.get(key) ?? emptyLedger(),
          intent: (before) => {
            const intent = withHashed(before, hashed);
            for (const a of writes) {
              intent.files.set(a.name, a.sha256);
              intent.fingerprints?.delete(a.name); // the content changes: an old fingerprint no longer holds
              intent.hashed?.delete(a.name);
            }
            return intent;
          },
          perform: async (run, report) => [
            ...(dest.batch
              ? await batched(writes, dest.batch.bind(dest), run, report)
              : await run(writes, async (a) => {
                  const written = await dest.write(a.name, await body(a), a.bytes, a.sha256);
                  if (written?.fingerprint) fingerprints.set(a.name, written.fingerprint);
                })),
            ...(await run(
              d.actions.filter((a) => a.kind === 'delete-file'),
              (a) => dest.delete(a.name),
            )),
          ],
          after: (before, results) => afterFiles(withHashed(before, hashed), results, fingerprints),
          writeLedger: (text) => dest.writeText(ledgerObjectName(project.id), text),
        },
        execOpts,
      );
    }),
  );
  opts.stagingBytes?.drop(project.src);
  return perDest.flat();

  /**
   * The writes in batches: each batch staged through `run` (each write retried), then committed
   * and its results reported; the next batch is staged while the previous one commits.
   */
  async function batched(writes: readonly FileWrite[], batch: () => WriteBatch, run: RunActions, report: (r: ActionResult) => ActionResult): Promise<ActionResult[]> {
    const results: ActionResult[] = [];
    let committing: Promise<void> = Promise.resolve();
    for (const chunk of batches(writes, opts.parallel)) {
      const b = batch();
      for (const a of chunk) held.add(a);
      const staged = await run(chunk, async (a) => b.write(a.name, await body(a)));
      committing = committing.then(async () => {
        const failed = await b.commit();
        for (const r of staged) {
          held.delete(r.action);
          const why = r.error ?? failed.get(r.action.name);
          results.push(report({ destination: r.destination, action: r.action, ...(why !== undefined ? { error: why } : {}) }));
        }
      });
    }
    await committing;
    return results;
  }
}

/** `ledger` with the sha256s of other tools' objects hashed in this run. */
function withHashed(ledger: Ledger, hashed: ReadonlyMap<string, { sha256: string; fingerprint: string }> | undefined): Ledger {
  const l = cloneLedger(ledger);
  l.hashed ??= new Map();
  for (const [name, h] of hashed ?? []) l.hashed.set(name, h);
  return l;
}

/** The ledger now says exactly what we wrote and still own. */
export function afterFiles(before: Ledger, results: readonly ActionResult[], fingerprints: ReadonlyMap<string, string>): Ledger {
  const after = cloneLedger(before);
  after.fingerprints ??= new Map();
  for (const r of results) {
    if (r.error) continue;
    const name = r.action.name;
    after.fingerprints.delete(name);
    after.hashed?.delete(name); // rewritten or deleted: what was hashed is gone
    if (r.action.kind === 'delete-file') after.files.delete(name);
    else if (r.action.kind === 'copy-file' || r.action.kind === 'replace-file') {
      after.files.set(name, r.action.sha256);
      const fp = fingerprints.get(name);
      if (fp) after.fingerprints.set(name, fp);
    }
  }
  return after;
}
