// Integrity of production objects in S3 (s3rver) and GCS (the recorded fake): an object whose
// bytes are wrong but whose sha256 metadata was set to match is not counted as promoted. An
// object this promoter wrote and verified is trusted by the store's own fingerprint (S3 ETag,
// GCS md5Hash) recorded in the ledger, without downloading it again. An S3 checksum
// (x-amz-checksum-sha256, which S3 verifies on upload) is trusted on its own: s3rver has none, so
// that path runs through a proxy that adds S3's checksum behaviour in front of s3rver.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { tree } from '../promoter/fixtures.js';
import { startFakeGcs } from '../promoter/gcs-fake.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { startS3, startS3ChecksumProxy } from '../promoter/s3.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-bins';
const sha = (b: string) => createHash('sha256').update(b).digest('hex');
const GOOD = 'the reviewed binary\n';
const EVIL = 'something else, same size\n'.slice(0, GOOD.length);

async function setup(t: import('ava').ExecutionContext) {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.stop());
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'tool'), GOOD);
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: s3://prod/bins/\n- base: gs://prod/bins/\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'files.yaml'), `files:\n- name: tool\n  sha256: "${sha(GOOD)}"\n`);
  // Count content downloads from production (GetObject on S3, alt=media on GCS), not ledger reads.
  let downloads = 0;
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (context.commandName === 'GetObjectCommand' && !key.includes('.artifact-serving')) downloads++;
      return next(args);
    },
    { step: 'initialize', name: 'countDownloads' },
  );
  const gcsFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.includes('alt=media') && !url.includes('.artifact-serving')) downloads++;
    return fetch(input, init);
  }) as typeof fetch;
  const backends = createBackends({ s3: s3.client, env: { GCS_ENDPOINT: gcs.endpoint }, fetch: gcsFetch });
  const run = async (confirm = false) => {
    const { out, io } = captureIo();
    const r = await promote({ dir: manifests, confirm, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, backends, io);
    return { ...r, ...out };
  };
  const tamper = async (body: string) => {
    // Wrong bytes, with the metadata set to claim the reviewed sha256.
    await s3.client.send(new PutObjectCommand({ Bucket: 'prod', Key: 'bins/tool', Body: body, Metadata: { sha256: sha(GOOD) } }));
    gcs.objects.set('prod/bins/tool', { data: Buffer.from(body), metadata: { sha256: sha(GOOD) } });
  };
  return { run, tamper, downloads: () => downloads, resetDownloads: () => (downloads = 0) };
}

test('wrong bytes under matching sha256 metadata are not "promoted"; our own verified writes are trusted without a download', async (t) => {
  const { run, tamper, downloads, resetDownloads } = await setup(t);
  const first = await run(true);
  t.is(first.exitCode, 0, first.stdout + first.stderr);

  resetDownloads();
  const again = await run();
  t.regex(again.stdout, /Nothing to do/);
  t.is(downloads(), 0, 'the fingerprint recorded in the ledger vouches for our own writes');

  await tamper(EVIL);
  const r = await run();
  t.is(r.exitCode, 1, r.stdout);
  t.regex(r.stdout, new RegExp(`file-conflict: s3://prod/bins/tool has sha256 ${sha(EVIL)}; the manifest says ${sha(GOOD)}`));
  t.regex(r.stdout, new RegExp(`file-conflict: gs://prod/bins/tool has sha256 ${sha(EVIL)}`));
  t.notRegex(r.stdout, /Nothing to do: production already matches every manifest\./);
});

test('an object this promoter did not write is hashed: right bytes pass, wrong bytes are a conflict', async (t) => {
  const { run, tamper, downloads, resetDownloads } = await setup(t);
  await tamper(GOOD); // correct content, put there by someone else (no ledger record)
  const ok = await run();
  t.is(ok.exitCode, 0, ok.stdout);
  t.regex(ok.stdout, /Nothing to do/);
  t.is(downloads(), 2, 'downloaded and hashed once per destination');
  resetDownloads();
  await tamper(EVIL);
  const bad = await run();
  t.is(bad.exitCode, 1);
  t.regex(bad.stdout, /file-conflict: s3:\/\/prod\/bins\/tool has sha256 /);
});

test('s3rver keeps no x-amz-checksum-sha256: stat has only the claimed sha256 and the ETag fingerprint', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const store = new S3Store('s3://prod/bins/', s3.client);
  const written = await store.write('tool', Readable.from([Buffer.from(GOOD)]), GOOD.length, sha(GOOD));
  const md5 = createHash('md5').update(GOOD).digest('hex');
  t.deepEqual(written, { size: GOOD.length, claimedSha256: sha(GOOD), fingerprint: `s3-etag:${md5}:${GOOD.length}` });
  t.deepEqual(await store.stat('tool'), written);
});

test('S3 checksums: trusted without a download; wrong bytes under the reviewed metadata are caught', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const proxy = await startS3ChecksumProxy(s3.endpoint);
  t.teardown(() => proxy.stop());
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'tool'), GOOD);
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: s3://prod/bins/\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'files.yaml'), `files:\n- name: tool\n  sha256: "${sha(GOOD)}"\n`);
  let downloads = 0;
  proxy.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand' && !((args.input as { Key?: string }).Key ?? '').includes('.artifact-serving')) downloads++;
      return next(args);
    },
    { step: 'initialize', name: 'countDownloads' },
  );
  const backends = createBackends({ s3: proxy.client });
  const run = async (confirm = false) => {
    const { out, io } = captureIo();
    const r = await promote({ dir: manifests, confirm, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, backends, io);
    return { ...r, ...out };
  };
  const put = (body: string, checksum?: string) =>
    proxy.client.send(new PutObjectCommand({ Bucket: 'prod', Key: 'bins/tool', Body: body, Metadata: { sha256: sha(GOOD) }, ...(checksum ? { ChecksumSHA256: Buffer.from(checksum, 'hex').toString('base64') } : {}) }));

  const first = await run(true);
  t.is(first.exitCode, 0, first.stdout + first.stderr);
  const store = new S3Store('s3://prod/bins/', proxy.client);
  t.is((await store.stat('tool'))?.sha256, sha(GOOD), 'the upload carried the checksum and S3 kept it');

  // The reviewed bytes with their checksum, written by someone else (no ledger): no download needed.
  await s3.client.send(new DeleteObjectCommand({ Bucket: 'prod', Key: 'bins/.artifact-serving/ledger/files--k8s-staging-bins.json' }));
  await put(GOOD, sha(GOOD));
  downloads = 0;
  t.regex((await run()).stdout, /Nothing to do/);
  t.is(downloads, 0, "the checksum S3 computed is the object's sha256");

  // S3 refuses a checksum that does not match the body: metadata can lie, the checksum cannot.
  await t.throwsAsync(put(EVIL, sha(GOOD)), { message: /SHA256 you specified did not match/ });

  // Wrong bytes with S3's own (correct) checksum and the reviewed metadata: caught without a download.
  await put(EVIL, sha(EVIL));
  downloads = 0;
  const honest = await run();
  t.is(honest.exitCode, 1, honest.stdout);
  t.regex(honest.stdout, new RegExp(`file-conflict: s3://prod/bins/tool has sha256 ${sha(EVIL)}; the manifest says ${sha(GOOD)}`));
  t.is(downloads, 0);

  // Wrong bytes without a checksum (only the metadata kept): hashed, and caught.
  await put(EVIL);
  downloads = 0;
  const quiet = await run();
  t.is(quiet.exitCode, 1, quiet.stdout);
  t.regex(quiet.stdout, new RegExp(`file-conflict: s3://prod/bins/tool has sha256 ${sha(EVIL)}; the manifest says ${sha(GOOD)}`));
  t.is(downloads, 1);
});

test('an object another tool wrote is downloaded once: a confirmed run records its sha256, reruns download nothing until it changes', async (t) => {
  const { run, tamper, downloads, resetDownloads } = await setup(t);
  await tamper(GOOD); // right bytes, written by someone else
  const recorded = await run(true);
  t.is(recorded.exitCode, 0, recorded.stdout + recorded.stderr);
  t.is(downloads(), 2, 'hashed once per destination, and recorded in its ledger');
  resetDownloads();
  const again = await run(true);
  t.regex(again.stdout, /Nothing to do/);
  t.is(downloads(), 0, 'the recorded sha256 holds while the store reports the same fingerprint');
  await tamper(EVIL);
  const bad = await run();
  t.is(bad.exitCode, 1);
  t.regex(bad.stdout, new RegExp(`file-conflict: s3://prod/bins/tool has sha256 ${sha(EVIL)}`));
  t.regex(bad.stdout, new RegExp(`file-conflict: gs://prod/bins/tool has sha256 ${sha(EVIL)}`));
});

/** The names of the commands `client` sends from now on, in order. */
function commandsSentBy(client: import('@aws-sdk/client-s3').S3Client): string[] {
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return commands;
}

test('writing a new S3 object is one request (PutObject with its sha256), no HEAD after it', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const commands = commandsSentBy(s3.client);
  const store = new S3Store('s3://prod/bins/', s3.client);
  const written = await store.write('tool', Readable.from([Buffer.from(GOOD)]), GOOD.length, sha(GOOD));
  t.deepEqual(commands, ['PutObjectCommand']);
  t.is(written?.claimedSha256, sha(GOOD));
  t.deepEqual(await store.stat('tool'), written, 'the state from the answer is what a HEAD reports');
});

test('bytes in memory are one PutObject too, carrying their checksum: bytes that do not match it are refused', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const proxy = await startS3ChecksumProxy(s3.endpoint);
  t.teardown(() => proxy.stop());
  const commands = commandsSentBy(proxy.client);
  const store = new S3Store('s3://prod/bins/', proxy.client);
  const written = await store.write('tool', Buffer.from(GOOD), GOOD.length, sha(GOOD));
  t.deepEqual(commands, ['PutObjectCommand']);
  t.is(written.claimedSha256, sha(GOOD));
  t.is((await store.stat('tool'))?.sha256, sha(GOOD), 'S3 verified and kept the checksum');
  await t.throwsAsync(store.write('evil', Buffer.from(EVIL), EVIL.length, sha(GOOD)), { message: /SHA256|BadDigest|checksum/i });
  t.is(await store.stat('evil'), undefined, 'nothing under the name');
});
