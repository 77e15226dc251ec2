// file:// stores: a local folder (the embedded default: the redirector can serve it directly).
// Writes go to a temporary name in the same directory, are flushed, then renamed: rename is
// atomic within a filesystem, so readers see the old state or the whole new file.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { FileState } from '../observed.js';
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
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
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
  constructor(readonly base: string) {
    this.root = fileURLToPath(base);
  }

  private path(name: string): string {
    return join(this.root, name);
  }

  async stat(name: string): Promise<FileState | undefined> {
    try {
      const s = await stat(this.path(name));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async read(name: string): Promise<Readable> {
    // Open first so a missing file rejects here rather than as a stream error later.
    const handle = await open(this.path(name), 'r');
    return handle.createReadStream();
  }

  async write(name: string, body: Readable, _size: number, _sha256: string): Promise<void> {
    const final = this.path(name);
    await mkdir(dirname(final), { recursive: true });
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
    await rm(this.path(name), { force: true });
  }

  async readText(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async writeText(name: string, text: string): Promise<void> {
    const { Readable } = await import('node:stream');
    await this.write(name, Readable.from([Buffer.from(text)]), Buffer.byteLength(text), '');
  }
}
