// The same contract for every file store: atomic verified writes, stat, read, delete, text.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { GcsStore } from '../../src/promoter/stores/gcs.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { startFakeGcs } from '../promoter/gcs-fake.js';
import type { FileStore } from '../../src/promoter/stores/store.js';
import { DigestMismatchError, sha256OfStream, verified } from '../../src/promoter/verify.js';
import { startS3 } from '../promoter/s3.js';
import { tempDir } from '../helpers/temp-dir.js';

const body = Buffer.alloc(300_000, 7);
const sha = createHash('sha256').update(body).digest('hex');
const chunks = (b: Buffer) => Readable.from([b.subarray(0, 100_000), b.subarray(100_000, 200_000), b.subarray(200_000)]);

async function contract(t: import('ava').ExecutionContext, store: FileStore): Promise<void> {
  t.is(await store.stat('a/b.bin'), undefined);
  await store.write('a/b.bin', verified(chunks(body), sha, 'a/b.bin', body.length), body.length, sha);
  const st = await store.stat('a/b.bin');
  t.is(st?.size, body.length);
  t.is((await sha256OfStream(await store.read('a/b.bin'))).sha256, sha);

  // A tampered body: the write fails and nothing appears under the name.
  const tampered = Buffer.from(body);
  tampered[299_999] = 8;
  const err = await t.throwsAsync(store.write('a/c.bin', verified(chunks(tampered), sha, 'a/c.bin'), body.length, sha));
  t.true(err instanceof DigestMismatchError || /sha256/.test(String(err?.message)), String(err));
  t.is(await store.stat('a/c.bin'), undefined);

  await store.writeText('.artifact-serving/ledger/x.json', '{"a":1}\n');
  t.is(await store.readText('.artifact-serving/ledger/x.json'), '{"a":1}\n');
  t.is(await store.readText('missing.json'), undefined);
  await store.delete('a/b.bin');
  await store.delete('a/b.bin');
  t.is(await store.stat('a/b.bin'), undefined);
}

test('fs store', async (t) => {
  const dir = tempDir('fs-store-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await contract(t, new FsStore(`${pathToFileURL(dir).href}/`));
  t.deepEqual(
    (await readdir(join(dir, 'a'))).filter((n) => n.startsWith('.artifact-serving-tmp')),
    [],
    'no temporary files left',
  );
});

test('fs store: a rerun removes temp files a killed writer left in a folder it writes to, and leaves a live writer’s alone', async (t) => {
  const dir = tempDir('fs-store-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { spawnSync } = await import('node:child_process');
  const { mkdir, writeFile } = await import('node:fs/promises');
  // A process that has exited: its PID is the writer that was killed.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  await mkdir(join(dir, 'a'), { recursive: true });
  const abandoned = `.artifact-serving-tmp-b.bin-${gone}-0123456789ab`;
  const live = `.artifact-serving-tmp-b.bin-${process.pid}-ba9876543210`;
  const other = `.artifact-serving-tmp-c.bin-${gone}-0123456789ab`;
  for (const name of [abandoned, live, other]) await writeFile(join(dir, 'a', name), 'partial');
  const store = new FsStore(`${pathToFileURL(dir).href}/`);
  await store.write('a/b.bin', verified(chunks(body), sha, 'a/b.bin', body.length), body.length, sha);
  const left = (await readdir(join(dir, 'a'))).sort();
  // The folder is cleaned once, before its first write in the run: leftovers of any name.
  t.deepEqual(left, [live, 'b.bin'].sort());
});

test('s3 store against s3rver', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const store = new S3Store('s3://prod/binaries/', s3.client);
  await contract(t, store);
  t.is((await store.stat('.artifact-serving/ledger/x.json'))?.size, 8);
});

test('gcs store against the recorded JSON API interface', async (t) => {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.stop());
  const store = new GcsStore('gs://prod/binaries/', { endpoint: gcs.endpoint, token: async () => 'tok' });
  await contract(t, store);
  t.deepEqual([...gcs.objects.keys()], ['prod/binaries/.artifact-serving/ledger/x.json']);
});

test('s3 and gcs stores refuse bases and keys with "." or ".." segments (also percent-encoded)', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.stop());
  t.throws(() => new S3Store('s3://prod/binaries/../other/', s3.client), { message: /has a "\.\." segment: refusing it/ });
  t.throws(() => new GcsStore('gs://prod/binaries/%2e%2e/', { endpoint: gcs.endpoint }), { message: /has a "%2e%2e" segment/ });
  const stores: FileStore[] = [new S3Store('s3://prod/binaries/', s3.client), new GcsStore('gs://prod/binaries/', { endpoint: gcs.endpoint })];
  await stores[0]!.writeText('victim', 'x');
  for (const store of stores) {
    for (const name of ['../victim', 'a/../../victim', 'a/./b', '/abs', 'a//b', 'a\\..\\b', '%2E%2E/victim']) {
      await t.throwsAsync(store.delete(name), { message: /refusing a name with/ }, `${store.base} ${name}`);
      await t.throwsAsync(store.write(name, Readable.from([Buffer.from('x')]), 1, ''), { message: /refusing a name with/ });
      await t.throwsAsync(store.stat(name), { message: /refusing a name with/ });
    }
  }
  t.is(await stores[0]!.readText('victim'), 'x');
});

test('createExclusive: a folder (link) and GCS (ifGenerationMatch=0) create once, then refuse', async (t) => {
  const dir = tempDir('fs-store-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.stop());
  for (const store of [new FsStore(`${pathToFileURL(dir).href}/`), new GcsStore('gs://prod/b/', { endpoint: gcs.endpoint })]) {
    t.true(await store.createExclusive('.artifact-serving/lock', 'first'));
    t.false(await store.createExclusive('.artifact-serving/lock', 'second'));
    t.is(await store.readText('.artifact-serving/lock'), 'first');
  }
  t.deepEqual((await readdir(join(dir, '.artifact-serving'))).sort(), ['lock'], 'no temporary files left');
});
