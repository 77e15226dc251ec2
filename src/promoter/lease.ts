// A lease per destination: one confirmed run at a time writes a destination. Taken before the
// destination is observed and held until its final ledger is written, so a second run can
// neither plan from a state the first is changing nor overwrite the first run's ledger with an
// older one. A second run waits (bounded) and then reports the destination as locked, naming who
// holds it; its other destinations go ahead.
//
// Where the lease lives, in production next to the ledger:
// - folders, S3, GCS: `<base>/.artifact-serving/lock`, created exclusively (a folder: O_EXCL;
//   S3: PutObject If-None-Match "*"; GCS: ifGenerationMatch=0), then read back to check it is ours
//   (servers that ignore the condition are caught unless two runs race within milliseconds);
// - registries: the tag `lock` in `<destination path>/artifact-serving-ledger`, an artifact
//   carrying the lease as an annotation; registries have no conditional PUT, so it is written
//   when absent, released or stale, then read back.
// The holder renews it every 30 s. A lease is stale when not renewed for 5 minutes, or at once
// when its holder was a process on this host that is gone; a stale lease is taken over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RegistryClient } from '../oci/client.js';
import { manifestAnnotation, putArtifact } from '../oci/artifact.js';
import { LEDGER_REPO } from './registry-ledger.js';
import { repoPath } from './load-images.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../net/retry.js';
import type { FileStore } from './stores/store.js';

export interface LeaseRecord {
  run: string;
  pid: number;
  host: string;
  started: string;
  renewed: string;
  released?: boolean;
}

export interface LeaseOptions {
  /** How long to wait for a held lease before giving up (default 60 s). */
  waitMs: number;
  /** Renewal period of a held lease (default 30 s). */
  renewMs: number;
  /** A lease not renewed for this long is stale (default 5 min). */
  staleMs: number;
  /** Poll period while waiting (default 2 s). */
  pollMs: number;
}

export const DEFAULT_LEASE: LeaseOptions = { waitMs: 60_000, renewMs: 30_000, staleMs: 5 * 60_000, pollMs: 2_000 };

export const LOCK_NAME = '.artifact-serving/lock';
const LOCK_TAG = 'lock';

class LeaseHeldError extends Error {
  constructor(
    readonly location: string,
    readonly holder: LeaseRecord,
  ) {
    super(
      `${location} is locked by another promote run (pid ${holder.pid} on ${holder.host}, started ${holder.started}, renewed ${holder.renewed}): only one run at a time may write a destination; try again when it has finished`,
    );
    this.name = 'LeaseHeldError';
  }
}

/** Where a lease is stored: read the current record, create it only if absent, overwrite, remove. */
interface LeaseSlot {
  location: string;
  read(): Promise<LeaseRecord | undefined>;
  /** false if a record already exists. */
  create(record: LeaseRecord): Promise<boolean>;
  write(record: LeaseRecord): Promise<void>;
  remove(): Promise<void>;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(r: LeaseRecord, staleMs: number, now = Date.now()): boolean {
  if (r.released) return true;
  if (r.host === hostname() && !isRunning(r.pid)) return true;
  const renewed = Date.parse(r.renewed);
  return !Number.isFinite(renewed) || now - renewed > staleMs;
}

function parseRecord(text: string | undefined): LeaseRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as LeaseRecord;
    if (typeof r.run === 'string' && typeof r.pid === 'number' && typeof r.host === 'string') return r;
  } catch {
    // fall through: an unreadable record counts as stale
  }
  return { run: 'unreadable', pid: -1, host: 'unknown', started: 'unknown', renewed: 'invalid' };
}

export function fileLeaseSlot(store: FileStore): LeaseSlot {
  return {
    location: store.base,
    read: async () => parseRecord(await store.readText(LOCK_NAME)),
    create: async (r) => {
      if (!store.createExclusive) throw new Error(`${store.base}: this store cannot hold a lease`);
      return store.createExclusive(LOCK_NAME, `${JSON.stringify(r)}\n`);
    },
    write: (r) => store.writeText(LOCK_NAME, `${JSON.stringify(r)}\n`),
    remove: () => store.delete(LOCK_NAME),
  };
}

const LEASE_ANNOTATION = 'dev.artifact-serving.lease';

export function registryLeaseSlot(client: RegistryClient, destination: string): LeaseSlot {
  const repo = `${repoPath(destination)}/${LEDGER_REPO}`;
  const read = async (): Promise<LeaseRecord | undefined> => {
    const m = await client.getManifest(repo, LOCK_TAG);
    if (!m) return undefined;
    return parseRecord(manifestAnnotation(m.bytes, LEASE_ANNOTATION) ?? '');
  };
  const write = async (r: LeaseRecord): Promise<void> => {
    await putArtifact(client, repo, LOCK_TAG, { artifactType: 'application/vnd.artifact-serving.lease.v1', annotations: { [LEASE_ANNOTATION]: JSON.stringify(r) } });
  };
  return {
    location: destination,
    read,
    // No conditional PUT in the distribution API: written when absent; acquire() reads it back.
    create: async (r) => {
      const current = await read();
      if (current && !current.released) return false;
      await write(r);
      return true;
    },
    write,
    // Deletes may be disabled on a registry: a released record frees it as well.
    remove: async () => {
      const current = await read();
      if (current) await write({ ...current, released: true });
    },
  };
}

export interface Lease {
  location: string;
  /** Stop renewing and free the lease; `local`: only stop renewing (its endpoint is down: the lease goes stale). */
  release(local?: boolean): Promise<void>;
}

/** Take the lease, waiting up to `waitMs` for a live holder; throws LeaseHeldError after that. */
export async function acquire(slotIn: LeaseSlot, opts: LeaseOptions = DEFAULT_LEASE, retry: RetryOptions = DEFAULT_RETRY): Promise<Lease> {
  // Each step retried on transient failures, like every other request to the destination.
  const slot: LeaseSlot = {
    location: slotIn.location,
    read: () => withRetry(() => slotIn.read(), retry),
    create: (r) => withRetry(() => slotIn.create(r), retry),
    write: (r) => withRetry(() => slotIn.write(r), retry),
    remove: () => withRetry(() => slotIn.remove(), retry),
  };
  const now = () => new Date().toISOString();
  const mine: LeaseRecord = { run: randomBytes(8).toString('hex'), pid: process.pid, host: hostname(), started: now(), renewed: now() };
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    // Read first: a store that ignores the create condition (s3rver) must not lose a live lease.
    const holder = await slot.read();
    // Ours already: a create that succeeded although its answer was lost (and then retried).
    if (holder?.run === mine.run) break;
    if (holder && !isStale(holder, opts.staleMs)) {
      if (Date.now() + opts.pollMs > deadline) throw new LeaseHeldError(slot.location, holder);
      await new Promise((r) => setTimeout(r, opts.pollMs));
      continue;
    }
    if (holder) await slot.remove();
    // Created, and still ours when read back: another run's record may have won a close race.
    if ((await slot.create(mine)) && (await slot.read())?.run === mine.run) break;
  }
  let lost: Error | undefined;
  let released = false;
  // One renewal at a time, and release waits for it: a renewal write landing after release's
  // remove would put our record back, and every later run would wait for a lease nobody holds.
  let renewing: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = (async () => {
      const current = await slot.read();
      if (current?.run !== mine.run) {
        lost = new Error(`${slot.location}: lease taken over by run ${current?.run ?? 'none'}`);
        clearInterval(timer);
        return;
      }
      if (!released) await slot.write({ ...mine, renewed: now() });
    })()
      .catch(() => undefined) // a failed renewal is retried next period
      .finally(() => (renewing = undefined));
  }, opts.renewMs);
  timer.unref();
  return {
    location: slot.location,
    release: async (local = false) => {
      released = true;
      clearInterval(timer);
      await renewing;
      if (lost || local) return;
      const current = await slot.read().catch(() => undefined);
      if (current?.run === mine.run) await slot.remove();
    },
  };
}
