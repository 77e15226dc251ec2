// Files end to end: staging folder -> a production folder and an s3rver bucket, through the real
// loader, observer, planner and executor. Proves the copies match the manifest byte for byte,
// reruns are no-ops, a tampered staging file leaves production untouched, a changed file is
// refused unless marked as a rollback, and --prune deletes only what the ledger owns.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeRandomFile } from '../helpers/image.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { sha256OfStream } from '../../src/promoter/verify.js';
import { tree } from '../promoter/fixtures.js';
import { startS3 } from '../promoter/s3.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-bins';

async function setup(t: import('ava').ExecutionContext) {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  const prod = join(dir, 'prod');
  const files: Record<string, string> = {};
  for (const [i, name] of ['v1/linux/amd64/tool', 'v1/linux/arm64/tool', 'v1/SHA256SUMS', 'v2/linux/amd64/tool'].entries()) {
    files[name] = await writeRandomFile(join(staging, name), 1000 + i * 70_000, name);
  }
  const manifests = join(dir, 'manifests');
  const writeManifests = async (entries: Record<string, string>, rollback: string[] = []) => {
    await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
    await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
    await writeFile(
      join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'),
      `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${pathToFileURL(prod).href}/\n- base: s3://prod/binaries/bins/\n`,
    );
    const list = Object.entries(entries).map(([name, sha]) => `- name: ${name}\n  sha256: ${sha}\n${rollback.includes(name) ? '  rollback: true\n' : ''}`);
    await writeFile(join(manifests, 'manifests', PROJECT, 'release.yaml'), `files:\n${list.join('')}`);
  };
  const backends = createBackends({ s3: s3.client });
  const run = async (opts: { confirm?: boolean; prune?: boolean } = {}) => {
    const { out, io } = captureIo();
    const r = await promote({ dir: manifests, confirm: opts.confirm ?? false, prune: opts.prune ?? false, parallel: 4, retry: { attempts: 3, baseMs: 1, maxMs: 5 } }, backends, io);
    return { ...r, ...out };
  };
  const s3store = new S3Store('s3://prod/binaries/bins/', s3.client);
  const prodSha = async (name: string) => {
    const fsSha = await readFile(join(prod, name)).then(
      (b) => createHash('sha256').update(b).digest('hex'),
      () => undefined,
    );
    const s3Sha = (await s3store.stat(name)) ? (await sha256OfStream(await s3store.read(name))).sha256 : undefined;
    return { fs: fsSha, s3: s3Sha };
  };
  return { staging, prod, files, writeManifests, run, prodSha, s3store, manifests, s3 };
}

test('promote files to a folder and to S3; rerun has nothing to do', async (t) => {
  const { files, writeManifests, run, prodSha } = await setup(t);
  await writeManifests(files);
  const dry = await run();
  t.is(dry.exitCode, 0, dry.stderr);
  t.regex(dry.stdout, /copy-file 4; /);
  t.regex(dry.stdout, /Would execute 8 action\(s\)/);
  t.deepEqual(await prodSha('v1/SHA256SUMS'), { fs: undefined, s3: undefined }, 'dry run writes nothing');

  const done = await run({ confirm: true });
  t.is(done.exitCode, 0, done.stderr);
  for (const [name, sha] of Object.entries(files)) t.deepEqual(await prodSha(name), { fs: sha, s3: sha }, name);

  const again = await run();
  t.is(again.exitCode, 0, again.stdout + again.stderr);
  t.regex(again.stdout, /Nothing to do: production already matches every manifest\./);
});

test('a tampered staging file: dry run fails, confirm promotes nothing of that project', async (t) => {
  const { staging, files, writeManifests, run, prodSha } = await setup(t);
  await writeManifests(files);
  await writeFile(join(staging, 'v1/SHA256SUMS'), 'not what was reviewed\n');
  const dry = await run();
  t.is(dry.exitCode, 1);
  t.regex(dry.stdout, /error: hash-mismatch: .*v1\/SHA256SUMS has sha256 /);
  const confirmed = await run({ confirm: true });
  t.is(confirmed.exitCode, 1);
  for (const name of Object.keys(files)) t.deepEqual(await prodSha(name), { fs: undefined, s3: undefined });
});

test('a changed file is refused unless marked as a rollback', async (t) => {
  const { staging, files, writeManifests, run, prodSha } = await setup(t);
  await writeManifests(files);
  t.is((await run({ confirm: true })).exitCode, 0);
  const newSha = await writeRandomFile(join(staging, 'v1/SHA256SUMS'), 500, 'rebuilt');
  await writeManifests({ ...files, 'v1/SHA256SUMS': newSha });
  const refused = await run({ confirm: true });
  t.is(refused.exitCode, 1);
  t.regex(refused.stdout, /error: file-conflict: .*v1\/SHA256SUMS has sha256 .*mark the file "rollback: true"/);
  t.deepEqual(await prodSha('v1/SHA256SUMS'), { fs: files['v1/SHA256SUMS'], s3: files['v1/SHA256SUMS'] });
  await writeManifests({ ...files, 'v1/SHA256SUMS': newSha }, ['v1/SHA256SUMS']);
  const rolled = await run({ confirm: true });
  t.is(rolled.exitCode, 0, rolled.stderr);
  t.deepEqual(await prodSha('v1/SHA256SUMS'), { fs: newSha, s3: newSha });
});

test('--prune deletes only files the ledger says this promoter wrote', async (t) => {
  const { prod, files, writeManifests, run, prodSha, s3store } = await setup(t);
  await writeManifests(files);
  t.is((await run({ confirm: true })).exitCode, 0);
  // Someone else's file in production, never promoted by us.
  await writeFile(join(prod, 'v0-unmanaged'), 'hands off');
  const { 'v2/linux/amd64/tool': _dropped, ...kept } = files;
  await writeManifests(kept);
  const noPrune = await run({ confirm: true });
  t.regex(noPrune.stdout, /1 ledger entries are no longer in the manifest; --prune would delete them/);
  t.deepEqual(await prodSha('v2/linux/amd64/tool'), { fs: files['v2/linux/amd64/tool'], s3: files['v2/linux/amd64/tool'] });
  const pruned = await run({ confirm: true, prune: true });
  t.is(pruned.exitCode, 0, pruned.stderr);
  t.regex(pruned.stdout, /delete v2\/linux\/amd64\/tool/);
  t.deepEqual(await prodSha('v2/linux/amd64/tool'), { fs: undefined, s3: undefined });
  t.is(await readFile(join(prod, 'v0-unmanaged'), 'utf8'), 'hands off');
  for (const name of Object.keys(kept)) t.deepEqual(await prodSha(name), { fs: files[name], s3: files[name] });
  const ledger = JSON.parse((await s3store.readText('.artifact-serving/ledger/files--k8s-staging-bins.json')) ?? '{}');
  t.deepEqual(Object.keys(ledger.files).sort(), Object.keys(kept).sort());
  await rm(join(prod, 'v0-unmanaged'));
});

test('a confirmed run reads each staging file once for both destinations and commits the folder in one batch', async (t) => {
  const { staging, files, writeManifests, manifests, s3 } = await setup(t);
  await writeManifests(files);
  const real = createBackends({ s3: s3.client });
  const reads = new Map<string, number>();
  let commits = 0;
  const stagingBase = `${pathToFileURL(staging).href}/`;
  const backends = {
    registry: real.registry,
    store: (base: string) => {
      const s = real.store(base);
      return Object.assign(Object.create(s) as typeof s, {
        read: (name: string) => {
          if (base === stagingBase) reads.set(name, (reads.get(name) ?? 0) + 1);
          return s.read(name);
        },
        ...(s.readAll && {
          readAll: (name: string) => {
            if (base === stagingBase) reads.set(name, (reads.get(name) ?? 0) + 1);
            return s.readAll!(name);
          },
        }),
        ...(s.readSmall && {
          readSmall: (name: string) => {
            if (base === stagingBase) reads.set(name, (reads.get(name) ?? 0) + 1);
            return s.readSmall!(name);
          },
        }),
        ...(s.batch && {
          batch: () => {
            const b = s.batch!();
            return {
              write: b.write,
              commit: () => {
                commits++;
                return b.commit();
              },
            };
          },
        }),
      });
    },
  };
  const { io } = captureIo();
  const done = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, io);
  t.is(done.exitCode, 0);
  t.deepEqual(Object.fromEntries(reads), Object.fromEntries(Object.keys(files).map((n) => [n, 1])), 'one read per staging file');
  t.is(commits, 1, 'the folder destination flushes its 4 files once');
  reads.clear();
  const again = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4 }, backends, io);
  t.is(again.results.length, 0);
  t.is(reads.size, 0, 'a no-op rerun reads no staging file');
});
