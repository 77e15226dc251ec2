// file:// stores: a local folder (the embedded default: the redirector can serve it directly).
// Writes go to a temporary name in the same directory, are flushed, then renamed: rename is
// atomic within a filesystem, so readers see the old state or the whole new file.
// Every access is confined to the base after resolving symlinks: a name (or a link inside the
// folder) that leads elsewhere is refused, so staging reads never leave the staging folder and
// writes and deletes never leave production. On Linux the proof is what was opened: each file
// descriptor's real path (/proc/self/fd) must lie inside the base, so a folder swapped for a
// symlink between a check and a use cannot lead a read, stat or write out. Elsewhere each access
// resolves its whole path first (a check-then-use window of microseconds).
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, fsync, openSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { type FileHandle, link, mkdir, open, opendir, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { FileState } from '../observed.js';
import { assertBase, assertName, ConfinementError } from './confine.js';
import type { FileStore, WriteBatch } from './store.js';
import { errorMessage } from '../../util/error-message.js';
import { mapPool } from '../pool.js';
import { type BatchFlush, DEFAULT_BATCH_FLUSH } from './flush.js';
import { LoopTurns } from './loop-turns.js';

/** Temp files are named after their target and the writing process, so leftovers can be found and judged. */
const TEMP_PREFIX = '.artifact-serving-tmp-';
function tempPath(final: string): string {
  return join(dirname(final), `${TEMP_PREFIX}${basename(final)}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

const ABANDONED_AFTER_MS = 60 * 60_000;

/**
 * How long a folder's resolved path is reused as a hint of where its files are. Resolving it
 * (realpath, mkdir) for each of thousands of files was most of a copy's system calls. It is never
 * the confinement proof: every descriptor opened through it is checked (checkFd), and without
 * /proc/self/fd it is not used at all.
 */
const DIR_CACHE_MS = 5_000;

/** Whether an open descriptor's real path can be read back (Linux procfs). */
const PROC_FD = existsSync('/proc/self/fd');

/**
 * Open for reading without following a symlink in the final component (ELOOP if it is one), and
 * without blocking on a FIFO a swapped folder might hold (no effect on regular files).
 */
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** A new temp file: never an existing name, never through a symlink. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * A promoter killed mid-write leaves its temp files behind (never under the real name). The next
 * run that writes into the same folder removes such leftovers, once per folder per run (not per
 * file: listing a folder of thousands of files for each of them made copies quadratic): those
 * whose writer process is gone, or that are older than an hour (a writer on another host, or a
 * recycled PID).
 */
async function removeAbandonedTemps(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((entry) => entry.startsWith(TEMP_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    // .artifact-serving-tmp-<name>-<pid>-<random>: the pid is the second-to-last field.
    const pid = Number(entry.split('-').at(-2));
    const path = join(dir, entry);
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (!isRunning(pid) || age > ABANDONED_AFTER_MS) await rm(path, { force: true });
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsync of one file or folder, by path or through a descriptor still open. */
async function fsyncPath(path: string | number): Promise<void> {
  if (typeof path === 'number') return new Promise((resolve, reject) => fsync(path, (e) => (e ? reject(e) : resolve())));
  const handle = await open(path, 'r');
  await handle.sync().finally(() => handle.close());
}

/**
 * Everything written to `paths` (files or folders) on disk: fsyncs issued together, so that the
 * filesystem commits them in a few journal transactions rather than one per file in turn. (A
 * batch of many small files takes one filesystem flush instead where that is cheap: flush.ts.)
 */
async function syncAll(paths: readonly (string | number)[]): Promise<void> {
  const settled = await mapPool(paths, SYNC_PARALLEL, fsyncPath);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
const SYNC_PARALLEL = 32;

/**
 * Files at least this large are flushed as soon as they are written, not at the batch's commit:
 * their disk writes then overlap the other workers' reads, hashing and writes, where a commit
 * would write them all while nothing else happens. (Small files stay batched: flushing each as it
 * is written was slower.)
 */
const SYNC_AT_WRITE_FROM = 2 ** 20;

/**
 * Files smaller than this (staging reads, batch writes of bytes in memory) are read and written
 * with synchronous calls, their commit's renames too: each async call is a round trip through
 * libuv's thread pool (a worker woken, an eventfd write back, an epoll wake-up), and for a small
 * file those cost far more CPU than the work itself (strace: about 70 futex calls per file for a
 * dozen fs calls). On a local folder each such call takes microseconds; the store yields the event
 * loop a turn every few milliseconds (LoopTurns) so other destinations' network work keeps going.
 * fsync never runs on the event loop (it waits for the disk).
 */
const SYNC_IO_BELOW = SYNC_AT_WRITE_FROM;

/**
 * How many temp files' descriptors batches may keep open from their write to their commit, so
 * the commit flushes and checks each through it instead of opening it twice more (for the fsync,
 * and to check where the rename put it): four of a small file's dozen or so system calls, each a
 * round trip through libuv's thread pool. Bounded across all stores of a run (createBackends
 * shares one budget), since every destination can have a batch in flight; files beyond it are
 * closed after writing, as before.
 */
export class DescriptorBudget {
  constructor(private free: number) {}
  take(): boolean {
    if (this.free <= 0) return false;
    this.free--;
    return true;
  }
  give(): void {
    this.free++;
  }
}
const DEFAULT_KEPT_DESCRIPTORS = 256;

/** A temp file of a batch, from its write to its commit. */
interface Staged {
  name: string;
  temp: string;
  final: string;
  bytes: number;
  /** Flushed as it was written (large files). */
  synced: boolean;
  /** Its descriptor, kept open for the commit (within the DescriptorBudget). */
  fd?: number | undefined;
}

export class FsStore implements FileStore {
  readonly root: string;
  /** Folders written to in this run, each cleaned of abandoned temp files once. */
  private readonly cleaned = new Map<string, Promise<void>>();
  /** Folders (relative) resolved and checked inside the base recently: their real paths. */
  private readonly dirs = new Map<string, { at: number; real: Promise<string | undefined> }>();
  private realRoot: Promise<string> | undefined;
  /** Synchronous small-file work yields the event loop between files (SYNC_IO_BELOW). */
  private readonly turns = new LoopTurns();
  constructor(
    readonly base: string,
    private readonly descriptors = new DescriptorBudget(DEFAULT_KEPT_DESCRIPTORS),
    /** One flush for a whole batch of small files where worth it (flush.ts), else an fsync each. */
    private readonly batchFlush: BatchFlush = DEFAULT_BATCH_FLUSH,
  ) {
    assertBase(base);
    this.root = fileURLToPath(base);
  }

  /** The base folder with symlinks resolved (ENOENT while it does not exist). */
  private async resolvedRoot(): Promise<string> {
    this.realRoot ??= realpath(this.root);
    this.realRoot.catch(() => (this.realRoot = undefined));
    return this.realRoot;
  }

  private async inside(real: string, name: string): Promise<string> {
    return this.insideRoot(await this.resolvedRoot(), real, name);
  }

  /** inside, against the base's resolved path `root`. */
  private insideRoot(root: string, real: string, name: string): string {
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new ConfinementError(`${this.base}${name}: resolves to ${real}, outside ${root}: refusing (a symlink leads out of the folder)`);
    }
    return real;
  }

  /**
   * checkFd for a plain descriptor, synchronously, against the base's resolved path `root`; it
   * throws (ConfinementError) without closing `fd`: the caller owns it.
   */
  private checkFdSync(fd: number, name: string, root: string): void {
    if (PROC_FD) this.insideRoot(root, readlinkSync(`/proc/self/fd/${fd}`), name);
  }

  /** `path` opened for reading with synchronous calls, then checked as checkFd (closed when refused). */
  private openFdChecked(path: string, name: string, root: string): number {
    const fd = openSync(path, READ_NOFOLLOW);
    try {
      this.checkFdSync(fd, name, root);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  }

  /**
   * `use` of a plain descriptor of `name`, opened and checked as openInside does but with
   * synchronous calls (only with /proc/self/fd), and closed after; the event loop gets its turn
   * first (LoopTurns).
   */
  private async withFdInside<T>(name: string, use: (fd: number) => T): Promise<T> {
    await this.turns.turn();
    const root = await this.resolvedRoot();
    const fd = await this.viaFolder(name, (path) => this.openFdChecked(path, name, root));
    try {
      return use(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * `handle`, refused (closed, ConfinementError) unless the file it has open lies inside the
   * base: the proof that no folder on the way was swapped for a symlink after it was checked
   * (checkFdSync; without /proc/self/fd, callers resolved the path instead).
   */
  private async checkFd(handle: FileHandle, name: string): Promise<void> {
    if (!PROC_FD) return;
    try {
      this.checkFdSync(handle.fd, name, await this.resolvedRoot());
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** `path` opened with `flags`, then checked as checkFd. */
  private async openChecked(path: string, flags: number, name: string): Promise<FileHandle> {
    const handle = await open(path, flags);
    await this.checkFd(handle, name);
    return handle;
  }

  /** The real path of an existing name, checked to be inside the base (ENOENT propagates). */
  private async existing(name: string): Promise<string> {
    assertName(this.base, name);
    return this.inside(await realpath(join(this.root, name)), name);
  }

  /**
   * The path a name is written to or deleted at: its directory with symlinks resolved (created
   * when `create`), checked inside the base before creating anything (mkdir would follow a link
   * in an existing ancestor) and again after. The final component itself is replaced by rename
   * or removed by rm, neither of which follows a symlink. Undefined: the directory is missing.
   */
  private async target(name: string, create: boolean): Promise<string | undefined> {
    assertName(this.base, name);
    const dir = await this.folder(dirname(name), name, create);
    return dir === undefined ? undefined : join(dir, basename(name));
  }

  /** `folder`'s real path (see target), reused for DIR_CACHE_MS; a missing folder is not remembered. */
  private folder(folder: string, name: string, create: boolean): Promise<string | undefined> {
    const now = Date.now();
    const cached = PROC_FD ? this.dirs.get(folder) : undefined;
    if (cached && now - cached.at < DIR_CACHE_MS) {
      return cached.real.then((real) => (real !== undefined || !create ? real : this.resolveFolder(folder, name, create, now)));
    }
    return this.resolveFolder(folder, name, create, now);
  }

  private resolveFolder(folder: string, name: string, create: boolean, now: number): Promise<string | undefined> {
    const real = this.resolveDir(dirname(join(this.root, name)), name, create);
    const entry = { at: now, real };
    this.dirs.set(folder, entry);
    const forget = () => this.dirs.get(folder) === entry && this.dirs.delete(folder);
    real.then((r) => r === undefined && forget(), forget);
    return real;
  }

  /** Forget a folder's resolution (it went missing under us). */
  private forgetFolder(name: string): void {
    this.dirs.delete(dirname(name));
  }

  private async resolveDir(dir: string, name: string, create: boolean): Promise<string | undefined> {
    if (create) await mkdir(this.root, { recursive: true });
    for (let probe = dir; ; probe = dirname(probe)) {
      let real: string;
      try {
        real = await realpath(probe);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ENOTDIR') || !create || probe === this.root) {
          if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
          throw e;
        }
        continue;
      }
      await this.inside(real, name);
      break;
    }
    if (create) await mkdir(dir, { recursive: true });
    try {
      return await this.inside(await realpath(dir), name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  /**
   * An existing file opened for reading, confined: through its folder's cached real path, not
   * following the final component, and the descriptor checked (checkFd); a symlink in the final
   * component takes the full check, and so does every open without /proc/self/fd.
   */
  private openInside(name: string): Promise<FileHandle> {
    return this.viaFolder(name, (path) => this.openChecked(path, READ_NOFOLLOW, name));
  }

  /**
   * `open` (a confined open, see openInside) of `name` through its folder's cached real path
   * (with /proc/self/fd); on a symlink in the final component or a folder gone missing, through
   * the full resolution instead.
   */
  private async viaFolder<T>(name: string, open: (path: string) => T | Promise<T>): Promise<T> {
    const path = await this.target(name, false);
    if (path !== undefined && PROC_FD) {
      try {
        return await open(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ELOOP') {
          if (isMissing(e)) this.forgetFolder(name);
          else throw e;
        }
      }
    }
    return open(await this.existing(name));
  }

  async stat(name: string): Promise<FileState | undefined> {
    try {
      // fstat of the checked descriptor: an lstat by path could be led out by a swapped folder.
      let s: import('node:fs').Stats;
      if (PROC_FD) s = await this.withFdInside(name, (fd) => fstatSync(fd));
      else {
        const handle = await this.openInside(name);
        s = await handle.stat().finally(() => handle.close());
      }
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /**
   * Every name under the base if there are at most `max` (one directory read per folder, where a
   * fresh destination took two failed path resolutions per file); undefined when there are more,
   * or when the tree holds a symlink: names behind one are judged by stat, confined, as before.
   * Only a hint of absence: names listed are still checked one by one.
   */
  async names(max: number): Promise<Set<string> | undefined> {
    const names = new Set<string>();
    let root: string;
    try {
      root = await this.resolvedRoot();
    } catch (e) {
      if (isMissing(e)) return names; // nothing written yet
      throw e;
    }
    const folders = [''];
    for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
      let dir: Awaited<ReturnType<typeof opendir>>;
      try {
        dir = await opendir(join(root, folder), { bufferSize: 256 });
      } catch (e) {
        if (isMissing(e)) continue; // removed while listing: its names are absent
        throw e;
      }
      for await (const entry of dir) {
        const name = folder === '' ? entry.name : `${folder}/${entry.name}`;
        if (entry.isSymbolicLink()) return undefined;
        if (entry.isDirectory()) folders.push(name);
        else if (!entry.name.startsWith(TEMP_PREFIX)) names.add(name);
        if (names.size > max) return undefined; // the loop closes the folder on return
      }
    }
    return names;
  }

  async read(name: string): Promise<Readable> {
    // Open first so a missing file rejects here rather than as a stream error later.
    const handle = await this.openInside(name);
    return handle.createReadStream();
  }

  /** Size, and the bytes of a file under 1 MiB (SYNC_IO_BELOW), from one open and check. */
  async readSmall(name: string): Promise<{ size: number; bytes?: Buffer } | undefined> {
    if (!PROC_FD) {
      const st = await this.stat(name);
      return st && (st.size < SYNC_IO_BELOW ? { size: st.size, bytes: await this.readAll(name) } : st);
    }
    try {
      return await this.withFdInside(name, (fd) => {
        const s = fstatSync(fd);
        if (!s.isFile()) return undefined;
        if (s.size >= SYNC_IO_BELOW) return { size: s.size };
        const bytes = readFileSync(fd); // to its end, should it have grown since the fstat
        return { size: bytes.length, bytes };
      });
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** The whole file in one read (kept staging files of 1 MiB or more: small ones come whole from readSmall). */
  async readAll(name: string): Promise<Buffer> {
    const handle = await this.openInside(name);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /** The path `name` is written to, its folder created and (once per run) cleaned of abandoned temps. */
  private async prepare(name: string): Promise<string> {
    const final = await this.target(name, true);
    if (!final) throw new Error(`${this.base}${name}: cannot create its folder`);
    const dir = dirname(final);
    let cleaning = this.cleaned.get(dir);
    if (!cleaning) {
      cleaning = removeAbandonedTemps(dir);
      this.cleaned.set(dir, cleaning);
    }
    await cleaning;
    return final;
  }

  /**
   * `body` into a new temp file next to `name`'s final path (not yet synced); nothing is left if
   * it fails. Bytes already in memory take one write, not a stream; if the folder went missing
   * since it was resolved (removed by someone else), it is made again once.
   */
  private async stage(name: string, body: Readable | Buffer, flush = false, keep = false): Promise<{ temp: string; final: string; fd?: number }> {
    // Small bytes in memory not flushed now (a batch's): written with synchronous calls.
    const write = (final: string) => (Buffer.isBuffer(body) && !flush && body.length < SYNC_IO_BELOW ? this.writeTempSync(final, name, body, keep) : this.writeTemp(final, name, body, flush));
    const final = await this.prepare(name);
    try {
      return { ...(await write(final)), final };
    } catch (e) {
      if (e instanceof ConfinementError) this.forgetFolder(name);
      if (!Buffer.isBuffer(body) || !isMissing(e)) throw e;
      this.forgetFolder(name);
      const again = await this.prepare(name);
      return { ...(await write(again)), final: again };
    }
  }

  /**
   * writeTemp for small bytes in memory, with synchronous calls (SYNC_IO_BELOW) and the same
   * checks: created exclusively, its descriptor checked inside the base before a byte is written,
   * nothing left if it fails. `keep`: the descriptor stays open, returned (the caller closes it).
   */
  private async writeTempSync(final: string, name: string, body: Buffer, keep: boolean): Promise<{ temp: string; fd?: number }> {
    const root = PROC_FD ? await this.resolvedRoot() : '';
    await this.turns.turn();
    const temp = tempPath(final);
    const fd = openSync(temp, CREATE_NEW, 0o644);
    let kept = false;
    try {
      this.checkFdSync(fd, name, root);
      for (let at = 0; at < body.length; ) at += writeSync(fd, body, at, body.length - at);
      kept = keep;
      return kept ? { temp, fd } : { temp };
    } catch (e) {
      rmSync(temp, { force: true }); // our own file, wherever a swapped folder led
      throw e;
    } finally {
      if (!kept) closeSync(fd);
    }
  }

  /**
   * `body` into a new temp file beside `final`, created exclusively and checked inside the base
   * (checkFd) before a byte is written; nothing is left if it fails. `flush`: bytes in memory are
   * fsynced right after they are written, on the same descriptor.
   */
  private async writeTemp(final: string, name: string, body: Readable | Buffer, flush = false): Promise<{ temp: string }> {
    const temp = tempPath(final);
    const handle = await open(temp, CREATE_NEW, 0o644);
    try {
      await this.checkFd(handle, name); // closes it when refused
    } catch (e) {
      await rm(temp, { force: true }); // our own new, empty file, wherever a swapped folder led
      throw e;
    }
    try {
      if (Buffer.isBuffer(body)) {
        try {
          await handle.writeFile(body);
          if (flush) await handle.sync();
        } finally {
          await handle.close();
        }
      } else await pipeline(body, handle.createWriteStream()); // the stream closes the handle
      return { temp };
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }

  /**
   * After `temp` was renamed to `final`: the file now at `final` is checked inside the base. The
   * temp was checked inside when created; only a folder swapped between that and the rename can
   * land it elsewhere, and then it is removed again and the write fails (it existed there for
   * that moment: the one window left, and it holds bytes already verified, never read back).
   */
  private async checkPlaced(final: string, name: string, renamed?: number): Promise<void> {
    if (!PROC_FD) return; // final's folder was resolved for this write (no cache)
    const root = await this.resolvedRoot();
    let fd: number;
    try {
      // The temp's own descriptor, still open, names where the rename put it; else open it again.
      fd = renamed ?? openSync(final, READ_NOFOLLOW);
    } catch (e) {
      throw new ConfinementError(`${this.base}${name}: not where it was renamed to (${errorMessage(e)}): its folder changed during the write`);
    }
    try {
      this.checkFdSync(fd, name, root);
    } catch (e) {
      rmSync(final, { force: true });
      throw e;
    } finally {
      if (renamed === undefined) closeSync(fd); // a kept descriptor is the caller's to close
    }
  }

  async write(name: string, body: Readable | Buffer, _size: number, _sha256: string): Promise<undefined> {
    const { temp, final } = await this.stage(name, body);
    try {
      await fsyncPath(temp);
      await rename(temp, final);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    await this.checkPlaced(final, name);
    await fsyncPath(dirname(final)); // the new name survives a crash too
  }

  /**
   * Many writes made durable together: each is written to a temp file, then `commit` flushes
   * them all at once, renames each to its name, and flushes the folders, before the caller's
   * ledger claims them. As with `write`, a name never shows partial content, even after a crash:
   * contents are on disk before any rename. Syncing a batch together instead of each file as it
   * is written is what makes thousands of small files cheap.
   */
  batch(): WriteBatch {
    const staged: Staged[] = [];
    /** A kept descriptor closed (once) and its place in the budget given back. */
    const release = (s: Staged): void => {
      const fd = s.fd;
      if (fd === undefined) return;
      s.fd = undefined;
      this.descriptors.give();
      try {
        closeSync(fd);
      } catch {
        // nothing to do: the descriptor is released either way
      }
    };
    return {
      write: async (name, body) => {
        const synced = Buffer.isBuffer(body) && body.length >= SYNC_AT_WRITE_FROM;
        // Small files in memory keep their descriptor for the commit (large ones are flushed now).
        const keep = Buffer.isBuffer(body) && !synced && this.descriptors.take();
        try {
          const written = await this.stage(name, body, synced, keep);
          staged.push({ name, ...written, bytes: Buffer.isBuffer(body) ? body.length : 0, synced });
          if (keep && written.fd === undefined) this.descriptors.give();
        } catch (e) {
          if (keep) this.descriptors.give();
          throw e;
        }
      },
      commit: async () => {
        const failed = new Map<string, string>();
        try {
          let flushed: boolean;
          try {
            flushed = await this.flushTemps(staged.filter((s) => !s.synced));
          } catch (e) {
            // Their descriptors are closed by the finally below.
            for (const s of staged) rmSync(s.temp, { force: true });
            for (const s of staged) failed.set(s.name, `not made durable: ${errorMessage(e)}`);
            return failed;
          }
          const dirs = new Set<string>();
          // Renames in turn, synchronous (SYNC_IO_BELOW): each is one metadata update.
          for (const s of staged) {
            await this.turns.turn();
            try {
              renameSync(s.temp, s.final);
              await this.checkPlaced(s.final, s.name, s.fd);
              dirs.add(dirname(s.final));
            } catch (e) {
              rmSync(s.temp, { force: true });
              failed.set(s.name, errorMessage(e));
            } finally {
              release(s);
            }
          }
          try {
            if (!(flushed && (await this.flushOnce([...dirs])))) await syncAll([...dirs]);
          } catch (e) {
            for (const s of staged) if (!failed.has(s.name)) failed.set(s.name, `rename not made durable: ${errorMessage(e)}`);
          }
          return failed;
        } finally {
          for (const s of staged) release(s);
        }
      },
    };
  }

  /**
   * A batch's temp files (not flushed yet) on disk: with one flush of their filesystems when the
   * batch is large and the machine holds little other dirty data (flush.ts), else an fsync each.
   * True when the flush was used (the renames are then flushed the same way).
   */
  private async flushTemps(pending: readonly Staged[]): Promise<boolean> {
    if (pending.length === 0) return false;
    const bytes = pending.reduce((n, s) => n + s.bytes, 0);
    if (this.batchFlush.worth(pending.length, bytes) && (await this.flushOnce([...new Set(pending.map((s) => dirname(s.temp)))]))) return true;
    await syncAll(pending.map((s) => s.fd ?? s.temp));
    return false;
  }

  /** One flush per filesystem the folders `dirs` lie on; false if any failed (then fsync instead). */
  private async flushOnce(dirs: readonly string[]): Promise<boolean> {
    const byDevice = new Map<number, string>();
    try {
      for (const dir of dirs) byDevice.set(statSync(dir).dev, dir);
    } catch {
      return false;
    }
    for (const dir of byDevice.values()) if (!(await this.batchFlush.flush(dir))) return false;
    return true;
  }

  async delete(name: string): Promise<void> {
    // Resolved for this delete, not from the cache: an unlink has no descriptor to check after.
    assertName(this.base, name);
    const dir = await this.resolveDir(dirname(join(this.root, name)), name, false);
    const final = dir === undefined ? undefined : join(dir, basename(name));
    if (final) await rm(final, { force: true });
  }

  async readText(name: string): Promise<string | undefined> {
    try {
      return await readFile(await this.existing(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async createExclusive(name: string, text: string): Promise<boolean> {
    const final = await this.target(name, true);
    if (!final) throw new Error(`${this.base}${name}: cannot create its folder`);
    // Written whole under a temporary name, then hard-linked: link fails if the name exists, and
    // a reader never sees the file empty or partial.
    const { temp } = await this.writeTemp(final, name, Buffer.from(text), true);
    try {
      await link(temp, final);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      await rm(temp, { force: true });
    }
  }

  async writeText(name: string, text: string): Promise<void> {
    const { Readable } = await import('node:stream');
    await this.write(name, Readable.from([Buffer.from(text)]), Buffer.byteLength(text), '');
  }
}
