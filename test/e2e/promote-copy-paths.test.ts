// The fast copy paths (issue 8) keep the guarantees: a fresh S3 destination is planned from one
// listing (no HEAD per file) and reruns still check what is there, and so is a fresh folder; a
// folder batch writes kept bytes whole, remakes a folder removed under it, leaves nothing behind
// when it fails, and closes every descriptor it kept for its commit.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { DescriptorBudget, FsStore } from '../../src/promoter/stores/fs.js';
import { tree } from '../promoter/fixtures.js';
import { startS3 } from '../promoter/s3.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-bins';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A staging folder of 60 small files and the manifests promoting them to `dest(dir)`. */
async function sixtyFiles(t: import('ava').ExecutionContext, dest: (dir: string) => string): Promise<{ dir: string; manifests: string }> {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  await mkdir(join(staging, 'v1'), { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < 60; i++) {
    const body = randomBytes(100 + i);
    await writeFile(join(staging, 'v1', `f${i}`), body);
    files.push(`- name: v1/f${i}\n  sha256: ${sha(body)}\n`);
  }
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${dest(dir)}\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'files.yaml'), `files:\n${files.join('')}`);
  return { dir, manifests };
}

test('a fresh S3 destination is planned from one listing, not a HEAD per file; a rerun checks each file', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const commands: { name: string; key: string }[] = [];
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push({ name: context.commandName ?? '?', key: (args.input as { Key?: string }).Key ?? '' });
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  const { manifests } = await sixtyFiles(t, () => 's3://prod/bins/');
  const backends = createBackends({ s3: s3.client });
  const fileCommands = (name: string) => commands.filter((c) => c.name === name && c.key.startsWith('bins/v1/')).length;

  const first = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, captureIo().io);
  t.is(first.exitCode, 0);
  t.is(commands.filter((c) => c.name === 'ListObjectsV2Command').length, 1);
  t.is(fileCommands('HeadObjectCommand'), 0, 'no HEAD for files the listing says are absent');
  t.is(fileCommands('PutObjectCommand'), 60);

  commands.length = 0;
  const again = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, captureIo().io);
  t.is(again.exitCode, 0);
  t.is(again.results.length, 0, 'nothing to do');
  t.is(fileCommands('HeadObjectCommand'), 60, 'files that are there are still checked one by one');
  t.is(fileCommands('GetObjectCommand'), 0, 'and trusted from what this promoter wrote, not downloaded');
});

test('a folder batch writes bytes whole, remakes a folder removed under it, and a failed batch leaves nothing', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const prod = join(dir, 'prod');
  const store = new FsStore(`${pathToFileURL(prod).href}/`);
  const a = randomBytes(70_000);
  const big = randomBytes(3 * 2 ** 20); // flushed as it is written, still renamed only at commit
  const first = store.batch();
  await first.write('v1/a', a);
  await first.write('v1/big', big);
  t.deepEqual(
    (await readdir(join(prod, 'v1'))).filter((n) => !n.startsWith('.artifact-serving-tmp-')),
    [],
    'nothing under its name before the commit',
  );
  t.deepEqual(await first.commit(), new Map());
  t.is(sha(await readFile(join(prod, 'v1/a'))), sha(a));
  t.is(sha(await readFile(join(prod, 'v1/big'))), sha(big));
  await rm(join(prod, 'v1/big'));

  // The folder is gone (someone removed it) while its resolution is remembered: made again.
  await rm(join(prod, 'v1'), { recursive: true });
  const second = store.batch();
  await second.write('v1/b', a);
  t.deepEqual(await second.commit(), new Map());
  t.deepEqual(await readdir(join(prod, 'v1')), ['b']);

  // A stream that fails half-way: the write fails, and no temp file or partial name is left.
  const third = store.batch();
  const failing = async function* () {
    yield a.subarray(0, 1000);
    throw new Error('staging read failed');
  };
  const { Readable } = await import('node:stream');
  await t.throwsAsync(third.write('v1/c', Readable.from(failing())), { message: /staging read failed/ });
  t.deepEqual(await third.commit(), new Map());
  t.deepEqual(await readdir(join(prod, 'v1')), ['b'], 'no v1/c and no temp file');
  t.is(await store.stat('v1/c'), undefined);
  t.deepEqual(await store.stat('v1/b'), { size: a.length });
});

test('a fresh folder destination is planned from one listing, not a lookup per file; symlinks stop the listing', async (t) => {
  const prodIn = (dir: string) => join(dir, 'prod');
  const { dir, manifests } = await sixtyFiles(t, (dir) => `${pathToFileURL(prodIn(dir)).href}/`);
  const prod = prodIn(dir);
  const prodBase = `${pathToFileURL(prod).href}/`;
  const backends = createBackends();
  const store = backends.store(prodBase) as FsStore; // the instance promote() gets too
  t.deepEqual(await store.names(10), new Set(), 'a folder not made yet holds nothing');
  let stats = 0;
  const stat = store.stat.bind(store);
  store.stat = (name) => {
    stats++;
    return stat(name);
  };

  const first = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, captureIo().io);
  t.is(first.exitCode, 0);
  t.is(first.results.length, 60);
  t.is(stats, 0, 'no lookup for files the listing says are absent');

  stats = 0;
  const again = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, captureIo().io);
  t.is(again.results.length, 0, 'nothing to do');
  t.is(stats, 60, 'files that are there are still checked one by one');

  const names = await store.names(1000);
  t.true(names?.has('v1/f0') && names.has('v1/f59'));
  t.is(await store.names(10), undefined, 'more names than asked for: no listing');
  await writeFile(join(prod, 'v1', '.artifact-serving-tmp-f0-1-abc'), 'partial');
  t.false((await store.names(1000))?.has('v1/.artifact-serving-tmp-f0-1-abc'), 'temp files are not names');
  await symlink(dir, join(prod, 'v1', 'out'));
  t.is(await store.names(1000), undefined, 'a symlink: names are judged one by one, confined, as without a listing');
});

test.serial('a folder batch keeps at most its budget of descriptors open, and closes them all at commit, also on failure', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const prod = join(dir, 'prod');
  const store = new FsStore(`${pathToFileURL(prod).href}/`, new DescriptorBudget(2));
  const open = async () => (await readdir('/proc/self/fd')).length;
  const bodies = Array.from({ length: 5 }, (_, i) => randomBytes(1000 + i));
  await store.writeText('warm', 'up'); // the folder made and cleaned once
  const before = await open();

  const batch = store.batch();
  for (const [i, b] of bodies.entries()) await batch.write(`f${i}`, b);
  t.is(await open(), before + 2, 'two descriptors kept for the commit, the other files closed');
  t.deepEqual(await batch.commit(), new Map());
  t.is(await open(), before, 'all closed after the commit');
  for (const [i, b] of bodies.entries()) t.is(sha(await readFile(join(prod, `f${i}`))), sha(b));

  // A rename that fails (a folder is in the way): that file fails, the others land, and the
  // budget is whole again (both descriptors kept by the next batch).
  const failing = store.batch();
  await failing.write('g0', bodies[0] as Buffer);
  await failing.write('g1', bodies[1] as Buffer);
  await mkdir(join(prod, 'g0', 'in-the-way'), { recursive: true });
  const failed = await failing.commit();
  t.deepEqual([...failed.keys()], ['g0']);
  t.is(sha(await readFile(join(prod, 'g1'))), sha(bodies[1] as Buffer));
  t.is(await open(), before, 'closed also when a rename failed');
  t.false(
    (await readdir(prod)).some((n) => n.startsWith('.artifact-serving-tmp-')),
    'no temp file left',
  );
  const next = store.batch();
  await next.write('h0', bodies[2] as Buffer);
  await next.write('h1', bodies[3] as Buffer);
  t.is(await open(), before + 2, 'the budget was given back');
  t.deepEqual(await next.commit(), new Map());
  t.is(await open(), before);
});
