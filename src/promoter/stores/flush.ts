// Batched durability for folder stores: many small files made durable with one filesystem flush
// (syncfs(2), through coreutils' `sync -f`) instead of one fsync each, when that is cheap; the
// per-file fsync stays the fallback (no `sync` binary, not Linux, the flush failing, or much else
// waiting to be written).
//
// Why it is durable: syncfs writes back every dirty page and inode of the filesystem and waits
// for them (and for the journal, where there is one), so our temp files' bytes (and, on a second
// call after the renames, the new names) are on disk when it returns; it runs before any rename,
// as the fsyncs did. On Linux >= 5.8 syncfs also returns the filesystem's write-back errors that
// nobody has seen yet, even ones from before `sync` opened it; a failure falls back to the
// per-file fsyncs, which report each file's errors through its own descriptor. The gap: an error
// that another process's syncfs already saw is not reported again (an fsync per file would still
// see it, but on this disk that cost more than the flush saved: 2,000 files took 3.4, 5.7 and
// 6.4 s with it against 3.4, 4.7 and 4.2 s without, in interleaved pairs).
// What it costs: it also flushes what every other writer on that filesystem left dirty. On a busy
// filesystem that can be far more than our batch (session 6 measured it slower there), so it is
// used only when the machine holds little dirty data besides ours (/proc/meminfo), in proportion
// to the fsyncs it spares.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

/** Flushes the filesystem holding `path`; false when that could not be done (then fsync each file). */
export type FlushFilesystem = (path: string) => Promise<boolean>;

/** How a folder store makes a batch durable: whether one flush is worth it, and the flush. */
export interface BatchFlush {
  worth(files: number, bytes: number): boolean;
  flush: FlushFilesystem;
}

/**
 * syncfs(2) of `path`'s filesystem, by coreutils' `sync -f` (node has no binding for it); false
 * when `command` is missing, fails or is not done within `timeoutMs`, or not on Linux.
 */
export function syncFilesystem(path: string, command = 'sync', timeoutMs = 120_000): Promise<boolean> {
  if (process.platform !== 'linux') return Promise.resolve(false);
  return new Promise((resolve) => execFile(command, ['-f', path], { timeout: timeoutMs }, (error) => resolve(!error)));
}

/** Fewer files than this are fsynced one by one: the flush's process start would cost more. */
export const FLUSH_FROM_FILES = 32;

/**
 * Other writers' dirty bytes a flush may write for each file of ours it spares an fsync: about
 * what this VM's disk writes in the time one small file's fsync costs (a flush wrote 71 MB in
 * 0.16 s, about 450 MB/s; an fsync cost 0.15-0.3 ms of wall time per file), plus a floor.
 */
const OTHERS_DIRTY_PER_FILE = 128 * 1024;
const OTHERS_DIRTY_FLOOR = 16 * 2 ** 20;

/** Dirty and under-write-back bytes of the whole machine (/proc/meminfo), undefined if unknown. */
export function dirtyBytes(meminfo = '/proc/meminfo'): number | undefined {
  let text: string;
  try {
    text = readFileSync(meminfo, 'utf8');
  } catch {
    return undefined;
  }
  let kib = 0;
  for (const field of ['Dirty', 'Writeback']) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) return undefined;
    kib += Number(m[1]);
  }
  return kib * 1024;
}

/**
 * Whether a batch of `files` files and `bytes` bytes not yet on disk should be flushed with one
 * filesystem flush, the machine holding `dirty` bytes not yet written (ours included): enough
 * files to pay for it, and little else dirty (unknown: no).
 */
export function worthFlushing(files: number, bytes: number, dirty: number | undefined): boolean {
  if (files < FLUSH_FROM_FILES || dirty === undefined) return false;
  return dirty - bytes <= OTHERS_DIRTY_FLOOR + files * OTHERS_DIRTY_PER_FILE;
}

/** Whether a Linux kernel `release` (uname -r) reports write-back errors to syncfs (5.8 and later). */
export function syncfsReportsErrors(kernel = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 8);
}

/** The flush a folder store uses unless told otherwise: never on a kernel whose syncfs hides errors. */
export const DEFAULT_BATCH_FLUSH: BatchFlush = {
  worth: (files, bytes) => process.platform === 'linux' && syncfsReportsErrors() && worthFlushing(files, bytes, dirtyBytes()),
  flush: (path) => syncFilesystem(path),
};
