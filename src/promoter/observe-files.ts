// Fill the observed snapshot for file projects: ledgers and the state of every named file in
// every destination, then staging, hashed only where something still has to be copied (or
// everything, for `validate --online`). A destination object's sha256 metadata is never trusted
// on its own: only a sha256 the store computed, or metadata whose object still has the
// fingerprint the ledger recorded when this promoter wrote and verified it; anything else is
// downloaded and hashed (wrong bytes under matching metadata are caught).
import { ledgerKey, ledgerObjectName, parseLedger, type Ledger } from './ledger.js';
import type { FileProject } from './model.js';
import type { FileState, Observed } from './observed.js';
import { mapPool } from './pool.js';
import type { FileStore } from './stores/store.js';
import type { RetryOptions } from '../net/retry.js';
import { Reachability } from './observe-reach.js';
import { sha256OfStream } from './verify.js';
import type { StagingBytes } from './staging-bytes.js';
import { createHash } from 'node:crypto';
import { errorMessage } from '../util/error-message.js';

export interface ObserveFilesOptions {
  parallel: number;
  /** Hash every staging file, not only those still to be copied. */
  hashAllStaging: boolean;
  retry: RetryOptions;
  /** Shared with the image observer: endpoints found unreachable in this run. */
  reach?: Reachability;
  /** A confirmed run: keep the staging bytes hashed here for the copy (read once; staging-bytes.ts). */
  keep?: StagingBytes;
}

/** Destinations with this many names are listed first (stores that can); a listing may be LIST_FACTOR times longer. */
const LIST_FROM = 50;
const LIST_FACTOR = 10;

export async function observeFiles(projects: readonly FileProject[], store: (base: string) => FileStore, observed: Observed, opts: ObserveFilesOptions): Promise<void> {
  const reach = opts.reach ?? new Reachability();
  observed.down = reach.down;
  // Ledgers first: their names are observed too, for prune.
  await observeStoreLedgers(
    projects.flatMap((p) => p.destinations.map((base) => ({ p, base }))),
    store,
    observed,
    reach,
    opts,
  );

  const destTasks: { project: FileProject; dest: string; name: string }[] = [];
  const wanted: { project: FileProject; dest: string; names: Set<string> }[] = [];
  for (const p of projects) {
    for (const dest of p.destinations) {
      if (observed.unreachable.has(dest)) continue;
      const names = new Set(p.entries.map((f) => f.name));
      for (const name of observed.ledgers.get(ledgerKey(p.id, dest))?.files.keys() ?? []) names.add(name);
      wanted.push({ project: p, dest, names });
    }
  }
  // Stores that can list: one listing instead of a stat per name that is not there (a fresh
  // destination), as long as the listing is not much longer than the names asked about.
  await mapPool(wanted, opts.parallel, async (w) => {
    const s = store(w.dest);
    if (s.names && w.names.size >= LIST_FROM) {
      const present = await reach.call(w.dest, () => s.names?.(w.names.size * LIST_FACTOR) ?? Promise.resolve(undefined), opts.retry).catch(() => undefined);
      if (present) for (const name of w.names) if (!present.has(name)) w.names.delete(name);
    }
    for (const name of w.names) destTasks.push({ project: w.project, dest: w.dest, name });
  });
  await mapPool(destTasks, opts.parallel, async ({ project, dest, name }) => {
    try {
      const key = ledgerKey(project.id, dest);
      const ledger = observed.ledgers.get(key);
      const found = await reach.call(dest, () => statAndHash(store(dest), name, false, ledger), opts.retry);
      if (!found) return;
      const { downloaded, ...state } = found;
      locationMap(observed, dest).set(name, state);
      if (downloaded && state.sha256 !== undefined && state.fingerprint !== undefined) {
        observed.hashed ??= new Map();
        const m = observed.hashed.get(key) ?? new Map<string, { sha256: string; fingerprint: string }>();
        observed.hashed.set(key, m);
        m.set(name, { sha256: state.sha256, fingerprint: state.fingerprint });
      }
    } catch (e) {
      observed.unreachable.set(dest, `${name}: ${errorMessage(e)}`);
    }
  });

  const stagingTasks: { p: FileProject; name: string; sha256: string }[] = [];
  for (const p of projects) {
    for (const f of p.entries) {
      const needed = opts.hashAllStaging || p.destinations.some((d) => observed.filestores.get(d)?.get(f.name)?.sha256 !== f.sha256);
      if (needed) stagingTasks.push({ p, name: f.name, sha256: f.sha256 });
    }
  }
  await mapPool(stagingTasks, opts.parallel, async ({ p, name, sha256 }) => {
    try {
      const state = await reach.call(p.src, () => (opts.keep ? hashKeeping(store(p.src), name, sha256, opts.keep) : statAndHash(store(p.src), name, true)), opts.retry);
      if (state) locationMap(observed, p.src).set(name, state);
    } catch (e) {
      observed.unreachable.set(p.src, `${name}: ${errorMessage(e)}`);
    }
  });
}

/**
 * Size and sha256 of one object. The content is read unless (and `always` is not set) the store
 * computed the sha256 itself, or the object still has the fingerprint `ledger` recorded when this
 * promoter wrote it with the sha256 its metadata claims, or the ledger recorded the sha256 of
 * another tool's object when it had the fingerprint it still has.
 */
/**
 * Reads the ledger of each (project, store) pair into `observed.ledgers`; a store whose ledger
 * cannot be read is marked unreachable. File destinations and blob buckets keep theirs alike.
 */
export async function observeStoreLedgers(
  tasks: readonly { p: { id: string; project: string }; base: string }[],
  store: (base: string) => FileStore,
  observed: Observed,
  reach: Reachability,
  opts: { parallel: number; retry: RetryOptions },
): Promise<void> {
  await mapPool(tasks, opts.parallel, async ({ p, base }) => {
    try {
      const text = await reach.call(base, () => store(base).readText(ledgerObjectName(p.id)), opts.retry);
      if (text !== undefined) observed.ledgers.set(ledgerKey(p.id, base), parseLedger(text, { project: p.project, destination: base }));
    } catch (e) {
      observed.unreachable.set(base, `cannot read ledger: ${errorMessage(e)}`);
    }
  });
}

export async function statAndHash(store: FileStore, name: string, always = false, ledger?: Ledger): Promise<(FileState & { downloaded?: true }) | undefined> {
  const st = await store.stat(name);
  if (!st) return undefined;
  if (!always) {
    if (st.sha256 !== undefined) return st;
    const fp = ledger?.fingerprints?.get(name);
    if (st.claimedSha256 !== undefined && st.fingerprint !== undefined && fp === st.fingerprint && ledger?.files.get(name) === st.claimedSha256) {
      return { ...st, sha256: st.claimedSha256 };
    }
    // Another tool's object, hashed by an earlier run while it had this very fingerprint.
    const hashed = ledger?.hashed?.get(name);
    if (hashed && st.fingerprint !== undefined && hashed.fingerprint === st.fingerprint) return { ...st, sha256: hashed.sha256 };
  }
  const { sha256, size } = await sha256OfStream(await store.read(name));
  return { size, sha256, downloaded: true, ...(st.fingerprint !== undefined ? { fingerprint: st.fingerprint } : {}) };
}

/** Size and sha256 of a staging file, its bytes kept for the copy when they fit and match `expected`. */
async function hashKeeping(store: FileStore, name: string, expected: string, keep: StagingBytes): Promise<FileState | undefined> {
  // One open for size and bytes where the store can; a large file takes the way below with the
  // size it gave. The bytes are read before the budget is asked, so it may be exceeded by at most
  // one small file per worker.
  const small = store.readSmall ? await store.readSmall(name) : undefined;
  if (small?.bytes) {
    const sha256 = createHash('sha256').update(small.bytes).digest('hex');
    if (sha256 === expected && keep.reserve(small.bytes.length)) keep.keep(store.base, name, sha256, small.bytes);
    return { size: small.bytes.length, sha256 };
  }
  const st = store.readSmall ? small : await store.stat(name);
  if (!st) return undefined;
  if (!keep.reserve(st.size)) return statAndHash(store, name, true);
  let bytes: Buffer;
  try {
    bytes = store.readAll ? await store.readAll(name) : await readChunks(store, name);
  } catch (e) {
    keep.release(st.size);
    throw e;
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  keep.release(st.size);
  if (sha256 === expected && keep.reserve(bytes.length)) keep.keep(store.base, name, sha256, bytes);
  return { size: bytes.length, sha256 };
}

async function readChunks(store: FileStore, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function locationMap(observed: Observed, location: string): Map<string, FileState> {
  let m = observed.filestores.get(location);
  if (!m) {
    m = new Map();
    observed.filestores.set(location, m);
  }
  return m;
}
