// Carry out one image project's plan, per destination (the skeleton in execute-destination.ts:
// intent ledger, actions, final ledger): copy each digest with its closure and referrers, then
// set tags (a tag only after its digest arrived), then prune.
import type { Manifest } from '../oci/client.js';
import { copyImage, copyReferrers, references, sourceManifest } from './copy-image.js';
import { executeDestination, isDelete, type ActionResult, type ExecuteOptions } from './execute-destination.js';
import { cloneLedger, emptyLedger, imageLedger, ledgerKey, type Ledger } from './ledger.js';
import { repoPath } from './load-images.js';
import type { ImageProject } from './model.js';
import { hostOf, type RegistryFor } from './observe-images.js';
import type { Observed } from './observed.js';
import type { Action, ProjectPlan } from './plan.js';
import { writeRegistryLedger } from './registry-ledger.js';

type ImageCopyAction = Extract<Action, { kind: 'copy-image' | 'copy-referrers' }>;
type TagAction = Extract<Action, { kind: 'tag' | 'move' }>;
type ImageDeleteAction = Extract<Action, { kind: 'delete-image' | 'delete-tag' }>;

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
  // Per destination registry: blobs placed there in this run, mounted by its other repositories.
  const placedByHost = new Map<string, Map<string, Promise<string>>>();
  const placedOn = (host: string) => {
    let m = placedByHost.get(host);
    if (!m) {
      m = new Map();
      placedByHost.set(host, m);
    }
    return m;
  };
  const perDest = await Promise.all(
    plan.destinations.map(async (d) => {
      if (d.actions.length === 0) return [];
      const dst = registry(hostOf(d.destination));
      const placed = placedOn(dst.host);
      const ctx = (name: string) => {
        const stagingTags = observed.registries.get(project.src)?.get(name)?.listed;
        return { src, srcRepo: `${repoPath(project.src)}/${name}`, dst, dstRepo: `${repoPath(d.destination)}/${name}`, cache: cacheFor(name), retry: opts.retry, placed, ...(stagingTags ? { stagingTags } : {}) };
      };
      return executeDestination(
        {
          project: project.project,
          destination: d.destination,
          actions: d.actions,
          before: observed.ledgers.get(ledgerKey(project.id, d.destination)) ?? emptyLedger(),
          // Deletions are not applied yet: their entries stay, marked retiring, until they are done.
          intent: (before) =>
            applyAll(
              before,
              d.actions.filter((a) => !isDelete(a)),
            ),
          perform: async (run, report) => {
            const copies = await run(
              d.actions.filter((a): a is ImageCopyAction => a.kind === 'copy-image' || a.kind === 'copy-referrers'),
              async (a) => {
                const c = ctx(a.name);
                if (a.kind === 'copy-image') return copyImage(c, a.digest);
                await copyReferrers(c, a.digest);
                for (const child of references(await sourceManifest(c, a.digest)).children) await copyReferrers(c, child.digest);
              },
            );
            const failed = new Set(copies.filter((r) => r.error).map((r) => `${r.action.name}@${(r.action as ImageCopyAction).digest}`));
            const tagActions = d.actions.filter((a): a is TagAction => a.kind === 'tag' || a.kind === 'move');
            const tags = await run(
              tagActions.filter((a) => !failed.has(`${a.name}@${a.digest}`)),
              async (a) => {
                const c = ctx(a.name);
                const m = await sourceManifest(c, a.digest);
                await dst.putManifest(c.dstRepo, a.tag, m);
              },
            );
            // A tag whose digest did not arrive is not set (and not retried), and says so.
            const notTagged = tagActions.filter((a) => failed.has(`${a.name}@${a.digest}`)).map((a) => report({ destination: d.destination, action: a, error: 'not tagged: copying its digest failed' }));
            const deletes = await run(
              d.actions.filter((a): a is ImageDeleteAction => a.kind === 'delete-image' || a.kind === 'delete-tag'),
              async (a) => {
                const repo = `${repoPath(d.destination)}/${a.name}`;
                if (a.kind === 'delete-image') await dst.deleteManifest(repo, a.digest);
                else {
                  // Only if the tag still points where we put it (checked just before deleting).
                  const head = await dst.headManifest(repo, a.tag);
                  if (head && head.digest === a.digest) await dst.deleteManifest(repo, a.tag);
                }
              },
            );
            return [...copies, ...inOrder(tagActions, tags, notTagged), ...deletes];
          },
          after: (before, results) =>
            applyAll(
              before,
              results.filter((r) => !r.error).map((r) => r.action),
            ),
          writeLedger: (text) => writeRegistryLedger(registry(hostOf(d.destination)), d.destination, project.id, text),
        },
        opts,
      );
    }),
  );
  return perDest.flat();
}

/** The results of `actions` in their order, from the two lists that each hold some of them. */
function inOrder(actions: readonly Action[], ...lists: ActionResult[][]): ActionResult[] {
  const byAction = new Map(lists.flat().map((r) => [r.action, r]));
  return actions.flatMap((a) => byAction.get(a) ?? []);
}

function applyAll(ledger: Ledger, actions: readonly Action[]): Ledger {
  const l = cloneLedger(ledger);
  for (const a of actions) apply(l, a);
  return l;
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
