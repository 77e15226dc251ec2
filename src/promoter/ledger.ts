// The ledger: what this promoter wrote to one destination for one project, kept in production
// next to what it describes. `--prune` deletes only what a ledger lists, and only while
// production still holds exactly that content, so nothing unmanaged is ever deleted.
//
// It is written *before* the writes it describes (the planned writes are added first): a crash
// then leaves the ledger claiming something not yet written, which the rerun writes or, if the
// manifest dropped it meanwhile, prune finds missing and forgets. The other order would leave
// objects we wrote but never recorded, which no later run could ever clean up.
//
// A ledger lives in production, where anyone with write access there can edit it, so it is
// input like any other: every name must be a plain relative name (no `..`, no leading `/`),
// every digest, tag and sha256 well-formed, and project and destination those it is read for.
// Otherwise the whole ledger is refused (the destination is reported unreachable), never
// trusted in part.
//
// Retiring entries (issue 9, `promote --prune --prune-grace T`): before deleting, the promoter
// publishes a ledger that still lists what it will delete but marks it retiring, with the time
// it was first marked. Redirectors reading ledgers as expected content stop sending clients to
// mirrors for those objects; the promoter deletes once the grace has passed since that time (on
// this run, or on a rerun after a crash), then writes the ledger without them.
import { z } from 'zod';
import { nameProblem } from './stores/confine.js';
import { errorMessage } from '../util/error-message.js';

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
  /**
   * name -> the store's own fingerprint of the object right after this promoter wrote and
   * verified it (FileState.fingerprint). While the store still reports it, the object is what we
   * wrote, so its recorded sha256 can be trusted without downloading it again.
   */
  fingerprints?: Map<string, string>;
  /**
   * name -> sha256 of an object this promoter did not write (another tool did), computed once by
   * downloading it, with the store's fingerprint then. While the store reports the same
   * fingerprint the content is unchanged, so a rerun need not download it again (issue 8).
   */
  hashed?: Map<string, { sha256: string; fingerprint: string }>;
  /**
   * Entries about to be deleted -> when they were first marked (ISO 8601). Keys: a file's name,
   * `name@digest` for an image, `name:tag` for a tag (see retiringKey).
   */
  retiring?: Map<string, string>;
  /**
   * Blob buckets only (issue 13): promoted digest -> the blob digests it needs (its manifests'
   * configs and layers, its platforms', its signatures'), so prune knows what a kept image needs
   * even after staging was cleaned up.
   */
  closures?: Map<string, string[]>;
  /**
   * Blob buckets only: names an intent ledger lists before they are written. A blob bucket's
   * ledger is believed without looking (no HEAD per blob per run), so a write a crash cut short
   * must stay visibly unconfirmed until a final ledger (or a later check) confirms it.
   */
  pending?: Set<string>;
  /**
   * Entries -> when this promoter finished writing them (ISO 8601), keys as for `retiring`.
   * Redirectors measure each mirror's lag from it (issue 9, freshness). Optional: ledgers written
   * before it existed load, and their entries simply have no known promotion time.
   */
  promoted?: Map<string, string>;
}

/** The retiring key of a file, an image digest or a tag. */
export function retiringKey(a: { name: string; digest?: string; tag?: string }): string {
  if (a.tag !== undefined) return `${a.name}:${a.tag}`;
  if (a.digest !== undefined) return `${a.name}@${a.digest}`;
  return a.name;
}

/** Whether a retiring key names an entry of the ledger. */
export function hasEntry(l: Ledger, key: string): boolean {
  if (l.files.has(key)) return true;
  const at = key.lastIndexOf('@');
  if (at > 0) return l.images.get(key.slice(0, at))?.digests.has(key.slice(at + 1)) ?? false;
  const colon = key.lastIndexOf(':');
  return colon > 0 && l.images.get(key.slice(0, colon))?.tags.has(key.slice(colon + 1)) === true;
}

const LEDGER_VERSION = 1;

const DIGEST = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256: and 64 lowercase hex characters');
const TAG = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'expected a tag');
// Repository path components as the distribution spec defines them, joined by '/'.
const IMAGE_NAME = z.string().regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, 'expected an image name');
const FILE_NAME = z.string().superRefine((name, ctx) => {
  const why = nameProblem(name);
  if (why) ctx.addIssue({ code: 'custom', message: `file name with ${why}: it would leave the destination` });
});

const ledgerJson = z.strictObject({
  version: z.literal(LEDGER_VERSION),
  project: z.string(),
  destination: z.string(),
  images: z.record(IMAGE_NAME, z.strictObject({ digests: z.array(DIGEST), tags: z.record(TAG, DIGEST) })),
  files: z.record(FILE_NAME, z.string().regex(/^[a-f0-9]{64}$/, 'expected 64 lowercase hex characters')),
  fingerprints: z.record(FILE_NAME, z.string()).optional(),
  closures: z.record(DIGEST, z.array(DIGEST)).optional(),
  pending: z.array(FILE_NAME).optional(),
  hashed: z.record(FILE_NAME, z.strictObject({ sha256: z.string().regex(/^[a-f0-9]{64}$/, 'expected 64 lowercase hex characters'), fingerprint: z.string() })).optional(),
  retiring: z
    .record(
      z.string(),
      z.string().refine((t) => ISO_TIME.test(t) && !Number.isNaN(Date.parse(t)), 'expected a time such as 2026-01-31T12:00:00.000Z'),
    )
    .optional(),
  promoted: z
    .record(
      z.string(),
      z.string().refine((t) => ISO_TIME.test(t) && !Number.isNaN(Date.parse(t)), 'expected a time such as 2026-01-31T12:00:00.000Z'),
    )
    .optional(),
});

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

export function emptyLedger(): Ledger {
  return { images: new Map(), files: new Map(), fingerprints: new Map() };
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
  // Only for names still in `files`; omitted when empty (older ledgers have none).
  const fp = [...(ledger.fingerprints ?? [])].filter(([name]) => ledger.files.has(name)).sort(([a], [b]) => a.localeCompare(b));
  const fingerprints = fp.length > 0 ? { fingerprints: Object.fromEntries(fp) } : {};
  const hs = [...(ledger.hashed ?? [])].sort(([a], [b]) => a.localeCompare(b));
  const hashed = hs.length > 0 ? { hashed: Object.fromEntries(hs) } : {};
  // Only for entries still listed; omitted when empty.
  const rt = [...(ledger.retiring ?? [])].filter(([key]) => hasEntry(ledger, key)).sort(([a], [b]) => a.localeCompare(b));
  const retiring = rt.length > 0 ? { retiring: Object.fromEntries(rt) } : {};
  const cl = [...(ledger.closures ?? [])].sort(([a], [b]) => a.localeCompare(b));
  const closures = cl.length > 0 ? { closures: Object.fromEntries(cl.map(([d, blobs]) => [d, [...blobs].sort()])) } : {};
  const pn = [...(ledger.pending ?? [])].filter((name) => ledger.files.has(name)).sort();
  const pending = pn.length > 0 ? { pending: pn } : {};
  const pt = [...(ledger.promoted ?? [])].filter(([key]) => hasEntry(ledger, key)).sort(([a], [b]) => a.localeCompare(b));
  const promoted = pt.length > 0 ? { promoted: Object.fromEntries(pt) } : {};
  return `${JSON.stringify({ version: LEDGER_VERSION, project, destination, images, files, ...fingerprints, ...hashed, ...closures, ...pending, ...retiring, ...promoted }, null, 1)}\n`;
}

/**
 * Parse and check a ledger; with `expect`, it must be the ledger of that project and destination
 * (a ledger copied from elsewhere would claim objects this promoter never wrote here).
 */
export function parseLedger(text: string, expect?: { project: string; destination: string }): Ledger {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`invalid ledger: ${errorMessage(e)}; refusing to trust it`);
  }
  const result = ledgerJson.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    // A bad record key is reported as one issue wrapping the key's own issues.
    const inner = first && 'issues' in first ? (first.issues as { message: string }[] | undefined)?.[0] : undefined;
    const issue = first && inner ? { ...first, message: inner.message } : first;
    const where = issue?.path.length ? ` at ${issue.path.map((p) => JSON.stringify(String(p))).join('.')}` : '';
    throw new Error(`invalid ledger${where}: ${issue?.message ?? 'malformed'}; refusing to trust it`);
  }
  const data = result.data;
  if (expect && (data.project !== expect.project || data.destination !== expect.destination)) {
    throw new Error(`ledger belongs to project ${data.project} at ${data.destination}, not ${expect.project} at ${expect.destination}; refusing to trust it`);
  }
  const images = new Map<string, ImageLedger>();
  for (const [name, l] of Object.entries(data.images)) images.set(name, { digests: new Set(l.digests), tags: new Map(Object.entries(l.tags)) });
  const ledger: Ledger = {
    images,
    files: new Map(Object.entries(data.files)),
    fingerprints: new Map(Object.entries(data.fingerprints ?? {})),
    hashed: new Map(Object.entries(data.hashed ?? {})),
    retiring: new Map(),
    ...(data.closures ? { closures: new Map(Object.entries(data.closures)) } : {}),
    ...(data.pending ? { pending: new Set(data.pending) } : {}),
  };
  for (const [key, since] of Object.entries(data.retiring ?? {})) {
    if (!hasEntry(ledger, key)) throw new Error(`invalid ledger at "retiring".${JSON.stringify(key)}: names no file, image digest (name@digest) or tag (name:tag) of this ledger; refusing to trust it`);
    ledger.retiring!.set(key, since);
  }
  // A stamp for an entry no longer listed is dropped, not refused: it claims nothing.
  ledger.promoted = new Map(Object.entries(data.promoted ?? {}).filter(([key]) => hasEntry(ledger, key)));
  return ledger;
}

export function cloneLedger(l: Ledger): Ledger {
  const images = new Map<string, ImageLedger>();
  for (const [name, i] of l.images) images.set(name, { digests: new Set(i.digests), tags: new Map(i.tags) });
  return {
    images,
    files: new Map(l.files),
    fingerprints: new Map(l.fingerprints ?? []),
    hashed: new Map(l.hashed ?? []),
    retiring: new Map(l.retiring ?? []),
    promoted: new Map(l.promoted ?? []),
    ...(l.closures ? { closures: new Map(l.closures) } : {}),
    ...(l.pending ? { pending: new Set(l.pending) } : {}),
  };
}

/** Every entry of a ledger (retiring keys) -> what it holds, to tell new or changed entries from kept ones. */
function entries(l: Ledger): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, sha256] of l.files) out.set(retiringKey({ name }), sha256);
  for (const [name, i] of l.images) {
    for (const digest of i.digests) out.set(retiringKey({ name, digest }), digest);
    for (const [tag, digest] of i.tags) out.set(retiringKey({ name, tag }), digest);
  }
  return out;
}

/**
 * The promotion times of `after`: an entry new since `before`, or holding other content (a file
 * replaced, a tag moved), was promoted `now`; a kept entry keeps its time (or has none, when an
 * older promoter wrote it).
 */
export function stampPromoted(before: Ledger, after: Ledger, now: number): Map<string, string> {
  const old = entries(before);
  const stamp = new Date(now).toISOString();
  const out = new Map<string, string>();
  for (const [key, content] of entries(after)) {
    const kept = old.get(key) === content ? before.promoted?.get(key) : stamp;
    if (kept) out.set(key, kept);
  }
  return out;
}

export function imageLedger(l: Ledger, name: string): ImageLedger {
  let i = l.images.get(name);
  if (!i) {
    i = { digests: new Set(), tags: new Map() };
    l.images.set(name, i);
  }
  return i;
}
