// file:// stores: a local folder (the embedded default: the redirector can serve it directly).
// Writes go to a temporary name in the same directory, are flushed, then renamed: rename is
// atomic within a filesystem, so readers see the old state or the whole new file.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { FileState } from '../observed.js';
import type { FileStore } from './store.js';

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
    const temp = join(dirname(final), `.artifact-serving-tmp-${randomBytes(6).toString('hex')}`);
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
