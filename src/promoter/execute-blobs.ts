// Carry out a project's blob-bucket plans (issue 13), per bucket through the destination skeleton
// (execute-destination.ts: intent ledger, actions, final ledger): each blob streams from staging
// through a sha256 verifier into the store's atomic write (a folder's temp file + rename, an
// S3/GCS upload checked after it completes), so the final key never holds a partial or
// unverified object; then prune. The ledger lists every blob as a file (name -> sha256, the
// redirector's expected content) and each promoted digest's blob closure (for prune).
import { Readable } from 'node:stream';
import type { ReadableStream as WebStream } from 'node:stream/web';
import { digestOfBlobKey } from './blob-buckets.js';
import { executeDestination, type ActionResult, type ExecuteOptions } from './execute-destination.js';
import { afterFiles } from './execute-files.js';
import { cloneLedger, emptyLedger, ledgerKey, ledgerObjectName, type Ledger } from './ledger.js';
import { repoPath } from './load-images.js';
import type { ImageProject } from './model.js';
import { hostOf, type RegistryFor } from './observe-images.js';
import { stagingKey, type Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import type { FileStore } from './stores/store.js';
import { verified } from './verify.js';

type BlobWrite = Extract<Action, { kind: 'copy-file' | 'replace-file' }>;

export async function executeBlobBuckets(project: ImageProject, plan: ProjectPlan, observed: Observed, registry: RegistryFor, store: (base: string) => FileStore, opts: ExecuteOptions): Promise<ActionResult[]> {
  const src = registry(hostOf(project.src));
  const perBucket = await Promise.all(
    plan.destinations.map(async (d) => {
      const dest = store(d.destination);
      const before = observed.ledgers.get(ledgerKey(project.id, d.destination)) ?? emptyLedger();
      const writes = d.actions.filter((a): a is BlobWrite => a.kind === 'copy-file' || a.kind === 'replace-file');
      const fingerprints = new Map<string, string>();
      // Blobs this project needs found in place and verified (e.g. written for another project): recorded, not copied.
      const needed = new Set([...closures(project, observed, before).values()].flat());
      const adopted = [...(observed.filestores.get(d.destination) ?? [])].filter(
        ([name, s]) => s.sha256 !== undefined && digestOfBlobKey(name) === `sha256:${s.sha256}` && needed.has(`sha256:${s.sha256}`) && before.files.get(name) !== s.sha256,
      );
      // Checked in place this run (HEAD or hash): no longer pending, whoever wrote them.
      const verifiedHere = new Set([...(observed.filestores.get(d.destination) ?? [])].filter(([name, s]) => s.sha256 !== undefined && `sha256:${s.sha256}` === digestOfBlobKey(name)).map(([name]) => name));
      const record = (l: Ledger): Ledger => {
        for (const [name, s] of adopted) if (!l.files.has(name)) l.files.set(name, s.sha256 as string);
        for (const name of verifiedHere) l.pending?.delete(name);
        l.closures = closures(project, observed, before);
        return l;
      };
      return executeDestination(
        {
          project: project.project,
          destination: d.destination,
          actions: d.actions,
          before,
          intent: (b) => {
            const intent = cloneLedger(b);
            intent.pending ??= new Set();
            for (const a of writes) {
              intent.files.set(a.name, a.sha256);
              intent.fingerprints?.delete(a.name);
              intent.pending.add(a.name); // confirmed by the final ledger once written
            }
            return record(intent);
          },
          perform: async (run) => [
            ...(await run(writes, async (a) => {
              const digest = `sha256:${a.sha256}`;
              const name = observed.blobs?.sourceName.get(stagingKey(project.src, digest));
              if (name === undefined) throw new Error(`${digest}: no staging image of ${project.src} is known to hold it`);
              const srcRepo = `${repoPath(project.src)}/${name}`;
              const { body } = await src.getBlob(srcRepo, digest);
              const stream = Readable.fromWeb(body as WebStream<Uint8Array>);
              try {
                const written = await dest.write(a.name, verified(stream, a.sha256, `${project.src}/${name}@${digest}`, a.bytes), a.bytes, a.sha256);
                if (written?.fingerprint) fingerprints.set(a.name, written.fingerprint);
              } finally {
                stream.destroy(); // a failed write frees the staging connection before the retry
              }
            })),
            ...(await run(
              d.actions.filter((a) => a.kind === 'delete-file'),
              (a) => dest.delete(a.name),
            )),
          ],
          after: (b, results) => {
            const after = record(afterFiles(b, results, fingerprints));
            // Written now: confirmed. A write that failed stays pending (the intent ledger listed it).
            after.pending ??= new Set();
            for (const r of results) {
              if (r.action.kind === 'delete-file') continue;
              if (r.error) after.pending.add(r.action.name);
              else after.pending.delete(r.action.name);
            }
            return after;
          },
          writeLedger: (text) => dest.writeText(ledgerObjectName(project.id), text),
        },
        opts,
      );
    }),
  );
  return perBucket.flat();
}

/** Each promoted digest's blobs, from staging, else as recorded before (staging cleaned up). */
function closures(project: ImageProject, observed: Observed, before: Ledger): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const image of project.images) {
    for (const digest of image.dmap.keys()) {
      const fromStaging = observed.blobs?.closures.get(stagingKey(project.src, digest));
      const blobs = fromStaging ? [...fromStaging.keys()] : before.closures?.get(digest);
      if (blobs) out.set(digest, blobs);
    }
  }
  return out;
}
