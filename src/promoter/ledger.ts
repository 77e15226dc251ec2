// The ledger: what this promoter wrote to one destination for one project, kept in production
// next to what it describes. `--prune` deletes only what a ledger lists, and only while
// production still holds exactly that content, so nothing unmanaged is ever deleted.
//
// It is written *before* the writes it describes (the planned writes are added first): a crash
// then leaves the ledger claiming something not yet written, which the rerun writes or, if the
// manifest dropped it meanwhile, prune finds missing and forgets. The other order would leave
// objects we wrote but never recorded, which no later run could ever clean up.
import { z } from 'zod';

export interface ImageLedger {
  /** Manifests this promoter copied (top-level digests named in a manifest). */
  digests: Set<string>;
  /** Tags this promoter set, and to which digest. */
  tags: Map<string, string>;
}

export interface Ledger {
  images: Map<string, ImageLedger>;
  /** name -> sha256 */
  files: Map<string, string>;
}

export const LEDGER_VERSION = 1;

const ledgerJson = z.strictObject({
  version: z.literal(LEDGER_VERSION),
  project: z.string(),
  destination: z.string(),
  images: z.record(z.string(), z.strictObject({ digests: z.array(z.string()), tags: z.record(z.string(), z.string()) })),
  files: z.record(z.string(), z.string()),
});

export function emptyLedger(): Ledger {
  return { images: new Map(), files: new Map() };
}

export function ledgerKey(projectId: string, destination: string): string {
  return `${projectId}\n${destination}`;
}

/** The ledger's object name inside a destination (files: relative to the base). */
export function ledgerObjectName(projectId: string): string {
  return `.artifact-serving/ledger/${projectId.replace(/\//g, '--')}.json`;
}

export function serialiseLedger(ledger: Ledger, project: string, destination: string): string {
  const images: Record<string, { digests: string[]; tags: Record<string, string> }> = {};
  for (const [name, l] of [...ledger.images].sort(([a], [b]) => a.localeCompare(b))) {
    images[name] = { digests: [...l.digests].sort(), tags: Object.fromEntries([...l.tags].sort(([a], [b]) => a.localeCompare(b))) };
  }
  const files = Object.fromEntries([...ledger.files].sort(([a], [b]) => a.localeCompare(b)));
  return `${JSON.stringify({ version: LEDGER_VERSION, project, destination, images, files }, null, 1)}\n`;
}

export function parseLedger(text: string): Ledger {
  const data = ledgerJson.parse(JSON.parse(text));
  const images = new Map<string, ImageLedger>();
  for (const [name, l] of Object.entries(data.images)) images.set(name, { digests: new Set(l.digests), tags: new Map(Object.entries(l.tags)) });
  return { images, files: new Map(Object.entries(data.files)) };
}

export function cloneLedger(l: Ledger): Ledger {
  const images = new Map<string, ImageLedger>();
  for (const [name, i] of l.images) images.set(name, { digests: new Set(i.digests), tags: new Map(i.tags) });
  return { images, files: new Map(l.files) };
}

export function imageLedger(l: Ledger, name: string): ImageLedger {
  let i = l.images.get(name);
  if (!i) {
    i = { digests: new Set(), tags: new Map() };
    l.images.set(name, i);
  }
  return i;
}
