// file:// stores: a local folder (the embedded default: the redirector can serve it directly).
// Writes go to a temporary name in the same directory, are flushed, then renamed: rename is
// atomic within a filesystem, so readers see the old state or the whole new file.
// Every access is confined to the base after resolving symlinks: a name (or a link inside the
// folder) that leads elsewhere is refused, so staging reads never leave the staging folder and
// writes and deletes never leave production.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { FileState } from '../observed.js';
import { assertBase, assertName, ConfinementError } from './confine.js';
import type { FileStore } from './store.js';

/** Temp files are named after their target and the writing process, so leftovers can be found and judged. */
function tempPrefix(final: string): string {
  return `.artifact-serving-tmp-${basename(final)}-`;
}

const ABANDONED_AFTER_MS = 60 * 60_000;

/**
 * A promoter killed mid-write leaves its temp file behind (never under the real name). The
 * rerun that writes the same file removes such leftovers: those whose writer process is gone,
 * or that are older than an hour (a writer on another host, or a recycled PID).
 */
async function removeAbandonedTemps(final: string): Promise<void> {
  const dir = dirname(final);
  const prefix = tempPrefix(final);
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((entry) => entry.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
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

export class FsStore implements FileStore {
  readonly root: string;
  private realRoot: Promise<string> | undefined;
  constructor(readonly base: string) {
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
    const root = await this.resolvedRoot();
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new ConfinementError(`${this.base}${name}: resolves to ${real}, outside ${root}: refusing (a symlink leads out of the folder)`);
    }
    return real;
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
    if (create) await mkdir(this.root, { recursive: true });
    const dir = dirname(join(this.root, name));
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
      return join(await this.inside(await realpath(dir), name), basename(name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async stat(name: string): Promise<FileState | undefined> {
    try {
      const s = await stat(await this.existing(name));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async read(name: string): Promise<Readable> {
    // Open first so a missing file rejects here rather than as a stream error later.
    const handle = await open(await this.existing(name), 'r');
    return handle.createReadStream();
  }

  async write(name: string, body: Readable, _size: number, _sha256: string): Promise<undefined> {
    const final = await this.target(name, true);
    if (!final) throw new Error(`${this.base}${name}: cannot create its folder`);
    await removeAbandonedTemps(final);
    const temp = join(dirname(final), `${tempPrefix(final)}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(body, createWriteStream(temp, { flags: 'wx' }));
      const handle = await open(temp, 'r');
      await handle.sync().finally(() => handle.close());
      await rename(temp, final);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }

  async delete(name: string): Promise<void> {
    const final = await this.target(name, false);
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
    const temp = join(dirname(final), `${tempPrefix(final)}${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(temp, text, { flag: 'wx', flush: true });
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
