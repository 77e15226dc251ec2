// Carry out one image project's plan, per destination: record intent in the ledger, copy each
// digest with its closure and referrers, then set tags (a tag only after its digest arrived),
// then prune, then write the ledger that matches what production now holds.
import type { Manifest } from '../oci/client.js';
import { copyImage, copyReferrers, references, sourceManifest } from './copy-image.js';
import type { ActionResult, ExecuteOptions } from './execute-files.js';
import { cloneLedger, emptyLedger, imageLedger, ledgerKey, serialiseLedger, type Ledger } from './ledger.js';
import { repoPath } from './load-images.js';
import type { ImageProject } from './model.js';
import { hostOf, type RegistryFor } from './observe-images.js';
import type { Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import { mapPool } from './pool.js';
import { writeRegistryLedger } from './registry-ledger.js';
import { withRetry } from '../net/retry.js';
import { errorMessage } from '../util/error-message.js';

export async function executeImages(project: ImageProject, plan: ProjectPlan, observed: Observed, registry: RegistryFor, opts: ExecuteOptions): Promise<ActionResult[]> {
  const src = registry(hostOf(project.src));
  const caches = new Map<string, Map<string, Promise<Manifest>>>(); // per image name, shared by destinations
  const cacheFor = (name: string) => {
    let c = caches.get(name);
    if (!c) {
      c = new Map();
      caches.set(name, c);
    }
    return c;
  };
  const perDest = await Promise.all(
    plan.destinations.map(async (d) => {
      if (d.actions.length === 0) return [];
      const dst = registry(hostOf(d.destination));
      const before = observed.ledgers.get(ledgerKey(project.id, d.destination)) ?? emptyLedger();
      const intent = cloneLedger(before);
      for (const a of d.actions) apply(intent, a);
      const save = (l: Ledger, prev: Ledger) => saveLedger(project, d.destination, l, prev, () => registry(hostOf(d.destination)), opts);
      try {
        await save(intent, before);
      } catch (e) {
        // Without the intent recorded nothing may be written: it could never be pruned later.
        return d.actions.map((action) => {
          const r = { destination: d.destination, action, error: `ledger not writable: ${errorMessage(e)}` };
          opts.onResult?.(r);
          return r;
        });
      }

      const run = async (a: Action, fn: () => Promise<void>): Promise<ActionResult> => {
        try {
          await withRetry(fn, opts.retry);
          const r = { destination: d.destination, action: a };
          opts.onResult?.(r);
          return r;
        } catch (e) {
          const r = { destination: d.destination, action: a, error: errorMessage(e) };
          opts.onResult?.(r);
          return r;
        }
      };
      const ctx = (name: string) => ({ src, srcRepo: `${repoPath(project.src)}/${name}`, dst, dstRepo: `${repoPath(d.destination)}/${name}`, cache: cacheFor(name), retry: opts.retry });
      const settled = <T>(rs: PromiseSettledResult<T>[]) => rs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));

      const copies = settled(
        await mapPool(d.actions.filter((a) => a.kind === 'copy-image' || a.kind === 'copy-referrers'), opts.parallel, (a) =>
          run(a, async () => {
            const c = ctx(a.name);
            const digest = (a as { digest: string }).digest;
            if (a.kind === 'copy-image') return copyImage(c, digest);
            await copyReferrers(c, digest);
            for (const child of references(await sourceManifest(c, digest)).children) await copyReferrers(c, child.digest);
          }),
        ),
      );
      const failed = new Set(copies.filter((r) => r.error).map((r) => `${r.action.name}@${(r.action as { digest: string }).digest}`));
      const tagActions = d.actions.filter((a) => a.kind === 'tag' || a.kind === 'move') as Extract<Action, { kind: 'tag' | 'move' }>[];
      const tags = settled(
        await mapPool(tagActions, opts.parallel, (a) =>
          failed.has(`${a.name}@${a.digest}`)
            ? Promise.resolve({ destination: d.destination, action: a as Action, error: 'not tagged: copying its digest failed' })
            : run(a, async () => {
                const c = ctx(a.name);
                const m = await sourceManifest(c, a.digest);
                await dst.putManifest(c.dstRepo, a.tag, m);
              }),
        ),
      );
      const deletes = settled(
        await mapPool(d.actions.filter((a) => a.kind === 'delete-image' || a.kind === 'delete-tag'), opts.parallel, (a) =>
          run(a, async () => {
            const repo = `${repoPath(d.destination)}/${a.name}`;
            if (a.kind === 'delete-image') await dst.deleteManifest(repo, a.digest);
            else if (a.kind === 'delete-tag') {
              // Only if the tag still points where we put it (checked just before deleting).
              const head = await dst.headManifest(repo, a.tag);
              if (head && head.digest === a.digest) await dst.deleteManifest(repo, a.tag);
            }
          }),
        ),
      );
      const results = [...copies, ...tags, ...deletes];
      const after = cloneLedger(before);
      for (const r of results) if (!r.error) apply(after, r.action);
      try {
        await save(after, intent);
      } catch (e) {
        // The intent ledger stays: it over-claims (safe for prune, which checks content first).
        opts.onResult?.({ destination: d.destination, action: d.actions[0] as Action, error: `final ledger not written: ${errorMessage(e)}` });
      }
      return results;
    }),
  );
  return perDest.flat();
}

function apply(l: Ledger, a: Action): void {
  switch (a.kind) {
    case 'copy-image':
      imageLedger(l, a.name).digests.add(a.digest);
      break;
    case 'tag':
    case 'move':
      imageLedger(l, a.name).tags.set(a.tag, a.digest);
      break;
    case 'delete-image': {
      const i = imageLedger(l, a.name);
      i.digests.delete(a.digest);
      for (const [tag, digest] of i.tags) if (digest === a.digest) i.tags.delete(tag);
      if (i.digests.size === 0 && i.tags.size === 0) l.images.delete(a.name);
      break;
    }
    case 'delete-tag':
      imageLedger(l, a.name).tags.delete(a.tag);
      break;
    default:
      break;
  }
}

async function saveLedger(project: ImageProject, destination: string, ledger: Ledger, previous: Ledger, client: () => ReturnType<RegistryFor>, opts: ExecuteOptions): Promise<void> {
  const text = serialiseLedger(ledger, project.project, destination);
  if (text === serialiseLedger(previous, project.project, destination)) return;
  await withRetry(() => writeRegistryLedger(client(), destination, project.id, text), opts.retry);
}
