// A folder batch of many small files is made durable with one filesystem flush (syncfs, through
// coreutils' `sync -f`) where that is cheap, and with an fsync per file otherwise: the flush comes
// before any rename (a name never shows bytes not on disk), and again after the renames; a flush
// that fails or cannot run falls back to the fsyncs and the batch still lands whole. Small files
// are read and written with synchronous calls: contents round-trip exactly, whatever the size,
// and a small staging file's size and bytes come from one open.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BatchFlush, syncFilesystem } from '../../src/promoter/stores/flush.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { tree } from '../promoter/fixtures.js';
import { requireTool } from '../helpers/peers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const TEMP = '.artifact-serving-tmp-';

/** A flush that records, at each call, how many of the batch's final names were visible. */
function recordingFlush(result: boolean): BatchFlush & { visibleAtCalls: number[] } {
  const visibleAtCalls: number[] = [];
  return {
    visibleAtCalls,
    worth: () => true,
    flush: async (path) => {
      const names = await readdir(path);
      visibleAtCalls.push(names.filter((n) => !n.startsWith(TEMP)).length);
      return result ? syncFilesystem(path) : false;
    },
  };
}

async function fortyFiles(store: FsStore): Promise<Buffer[]> {
  const bodies = Array.from({ length: 40 }, (_, i) => randomBytes(4096 + i));
  const batch = store.batch();
  for (const [i, b] of bodies.entries()) await batch.write(`v1/f${i}`, b);
  const failed = await batch.commit();
  if (failed.size) throw new Error(`failed: ${[...failed.entries()].join(', ')}`);
  return bodies;
}

test('a batch of many small files is flushed once before any rename and once after', async (t) => {
  requireTool('sync', 'coreutils');
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const prod = join(dir, 'prod');
  const flush = recordingFlush(true);
  const bodies = await fortyFiles(new FsStore(`${pathToFileURL(prod).href}/`, undefined, flush));
  t.deepEqual(flush.visibleAtCalls, [0, 40], 'flushed with no name visible, then again with all renamed');
  for (const [i, b] of bodies.entries()) t.is(sha(await readFile(join(prod, 'v1', `f${i}`))), sha(b));
  t.false(
    (await readdir(join(prod, 'v1'))).some((n) => n.startsWith(TEMP)),
    'no temp file left',
  );
});

test('a flush that fails falls back to an fsync per file and per folder: the batch still lands whole', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const prod = join(dir, 'prod');
  const flush = recordingFlush(false);
  const bodies = await fortyFiles(new FsStore(`${pathToFileURL(prod).href}/`, undefined, flush));
  t.deepEqual(flush.visibleAtCalls, [0], 'tried once before the renames; the folders were fsynced instead');
  for (const [i, b] of bodies.entries()) t.is(sha(await readFile(join(prod, 'v1', `f${i}`))), sha(b));
  t.false(
    (await readdir(join(prod, 'v1'))).some((n) => n.startsWith(TEMP)),
    'no temp file left',
  );
});

test('the flush is `sync -f`: done on a folder, false when the command is missing or fails', async (t) => {
  requireTool('sync', 'coreutils');
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  t.true(await syncFilesystem(dir));
  t.false(await syncFilesystem(dir, join(dir, 'no-such-sync')), 'no binary: the caller fsyncs each file');
  t.false(await syncFilesystem(join(dir, 'missing')), 'sync -f of a missing path fails');
});

test('small and large files, and an empty one, are read back exactly (synchronous reads below 1 MiB, size and bytes from one open)', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const store = new FsStore(`${pathToFileURL(dir).href}/`);
  for (const size of [0, 1, 4096, 2 ** 20 - 1, 2 ** 20, 3 * 2 ** 20 + 7]) {
    const body = randomBytes(size);
    await writeFile(join(dir, `f${size}`), body);
    t.is(sha(await store.readAll(`f${size}`)), sha(body), `${size} bytes`);
    t.deepEqual(await store.stat(`f${size}`), { size });
    const small = await store.readSmall(`f${size}`);
    t.is(small?.size, size);
    if (size < 2 ** 20) t.is(sha(small?.bytes ?? Buffer.alloc(1)), sha(body), `${size} bytes read with its size`);
    else t.is(small?.bytes, undefined, 'not small: size only');
  }
  await t.throwsAsync(store.readAll('absent'), { code: 'ENOENT' });
  t.is(await store.stat('absent'), undefined);
  t.is(await store.readSmall('absent'), undefined);
  t.is(await store.readSmall('absent/below'), undefined);
});
