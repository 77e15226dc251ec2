// What the file promoter needs from a place that holds files: staging or production, local
// folder, S3 bucket or GCS bucket. Names are relative to the store's base.
import type { Readable } from 'node:stream';
import type { FileState } from '../observed.js';

export interface FileStore {
  /** The base URL, with a trailing slash (as in the manifest). */
  readonly base: string;
  /**
   * Size; sha256 only when the store computed and verified it; the recorded metadata sha256 and a
   * store-computed fingerprint when available (see FileState); undefined if absent.
   */
  stat(name: string): Promise<FileState | undefined>;
  read(name: string): Promise<Readable>;
  /**
   * Every name the store holds under its base, if it can list them cheaply and there are at most
   * `max`; undefined otherwise. Names not listed are absent (stat need not ask about them).
   */
  names?(max: number): Promise<Set<string> | undefined>;
  /** The whole object in memory in one read, where the store can do that cheaply (folders). */
  readAll?(name: string): Promise<Buffer>;
  /**
   * Size of a small object and its whole content, from one open (folders: a stat and a read of a
   * staging file were two opens and two confinement checks); bytes absent when the object is not
   * small; undefined when it is absent (as `stat`).
   */
  readSmall?(name: string): Promise<{ size: number; bytes?: Buffer } | undefined>;
  /**
   * Write `body` so that no reader ever sees it partial: it appears whole under `name` or not at
   * all. If `body` errors (e.g. verification failed), nothing is left under `name`. A Buffer is
   * bytes in memory already verified (kept from the plan): sent as they are, no stream per file.
   * Returns the object's state after the write where the store checks it (for the ledger's
   * fingerprint).
   */
  write(name: string, body: Readable | Buffer, size: number, sha256: string): Promise<FileState | undefined>;
  /** Delete; a missing object is not an error. */
  delete(name: string): Promise<void>;
  readText(name: string): Promise<string | undefined>;
  writeText(name: string, text: string): Promise<void>;
  /**
   * Writes made durable and visible together (folders: one flush for many files); stores without
   * it write each object with `write`.
   */
  batch?(): WriteBatch;
  /** Create `name` holding `text` only if it does not exist (atomically); false if it exists. */
  createExclusive?(name: string, text: string): Promise<boolean>;
}

export interface WriteBatch {
  /**
   * Write `body` (a stream, or bytes already in memory and verified) under a temporary name;
   * nothing is visible under `name` before `commit`.
   */
  write(name: string, body: Readable | Buffer): Promise<void>;
  /**
   * Make every write of the batch durable, then visible under its name (whole, never partial);
   * returns the names that failed, with why (they are not under their names).
   */
  commit(): Promise<Map<string, string>>;
}

export type StoreFactory = (base: string) => FileStore;
