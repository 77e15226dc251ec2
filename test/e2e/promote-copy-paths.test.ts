// The fast copy paths (issue 8) keep the guarantees: a fresh S3 destination is planned from one
// listing (no HEAD per file) and reruns still check what is there; a folder batch writes kept
// bytes whole, remakes a folder removed under it, and leaves nothing behind when it fails.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { tree } from '../promoter/fixtures.js';
import { startS3 } from '../promoter/s3.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-bins';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

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
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: s3://prod/bins/\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'files.yaml'), `files:\n${files.join('')}`);
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
