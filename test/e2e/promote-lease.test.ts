// One confirmed run at a time writes a destination: a lease in production (a lock file in a
// folder, an S3 object created with If-None-Match, a lock tag in a registry). Two runs at once
// copy everything exactly once and the ledger lists everything; a run that cannot get the lease
// in time says who holds it; a lease whose holder is gone is taken over.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { acquire, fileLeaseSlot, LOCK_NAME, registryLeaseSlot } from '../../src/promoter/lease.js';
import { promote } from '../../src/promoter/promote.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { startRegistry } from '../helpers/peers.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';
import { tree } from '../promoter/fixtures.js';
import { startS3 } from '../promoter/s3.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-bins';
const SHORT = { waitMs: 300, pollMs: 50, renewMs: 1000, staleMs: 60_000 };

async function filesSetup(t: import('ava').ExecutionContext, destination: (prod: string) => string, count = 20) {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  const prod = join(dir, 'prod');
  const m = join(dir, 'manifests');
  await mkdir(join(m, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(m, 'manifests', PROJECT), { recursive: true });
  const list: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = `file ${i}\n`.repeat(1000);
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, `f${i}`), body);
    list.push(`- name: f${i}\n  sha256: "${createHash('sha256').update(body).digest('hex')}"\n`);
  }
  await writeFile(join(m, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${destination(prod)}\n`);
  await writeFile(join(m, 'manifests', PROJECT, 'files.yaml'), `files:\n${list.join('')}`);
  return { m, prod };
}

async function run(m: string, backends: ReturnType<typeof createBackends>, lease = SHORT) {
  const { out, io } = captureIo();
  const r = await promote({ dir: m, confirm: true, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 }, lease }, backends, io);
  return { ...r, ...out };
}

test('folder: two runs at once copy each file once; the ledger lists every file', async (t) => {
  const { m, prod } = await filesSetup(t, (p) => `${pathToFileURL(p).href}/`);
  const backends = createBackends();
  const [a, b] = await Promise.all([run(m, backends, { ...SHORT, waitMs: 60_000 }), run(m, backends, { ...SHORT, waitMs: 60_000 })]);
  t.is(a.exitCode + b.exitCode, 0, a.stdout + a.stderr + b.stdout + b.stderr);
  const copies = [...a.results, ...b.results].filter((r) => r.action.kind === 'copy-file');
  t.is(copies.length, 20, 'every file copied exactly once across both runs');
  const ledger = JSON.parse(await readFile(join(prod, '.artifact-serving/ledger/files--k8s-staging-bins.json'), 'utf8'));
  t.is(Object.keys(ledger.files).length, 20);
  await t.throwsAsync(readFile(join(prod, LOCK_NAME)), { code: 'ENOENT' }, 'the lease is released');
});

test('folder: a held lease makes a run report who holds it; a dead holder is taken over', async (t) => {
  const { m, prod } = await filesSetup(t, (p) => `${pathToFileURL(p).href}/`, 2);
  const store = new FsStore(`${pathToFileURL(prod).href}/`);
  const held = await acquire(fileLeaseSlot(store), SHORT);
  const refused = await run(m, createBackends());
  t.is(refused.exitCode, 1);
  t.regex(refused.stdout, new RegExp(`unreachable: .*no lease: .*prod/ is locked by another promote run \\(pid ${process.pid} on ${hostname()}, started .*\\): only one run at a time`));
  t.is(refused.results.length, 0);
  await held.release();

  // A holder process on this host that is gone: stale at once.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const stamp = new Date().toISOString();
  await writeFile(join(prod, LOCK_NAME), JSON.stringify({ run: 'dead', pid: gone, host: hostname(), started: stamp, renewed: stamp }));
  const ok = await run(m, createBackends());
  t.is(ok.exitCode, 0, ok.stdout);
  t.is(ok.results.length, 2);
});

test('S3: a held lease (If-None-Match object) stops a second run', async (t) => {
  const s3 = await startS3(['prod']);
  t.teardown(() => s3.stop());
  const { m } = await filesSetup(t, () => 's3://prod/bins/', 2);
  const held = await acquire(fileLeaseSlot(new S3Store('s3://prod/bins/', s3.client)), SHORT);
  const refused = await run(m, createBackends({ s3: s3.client }));
  t.is(refused.exitCode, 1);
  t.regex(refused.stdout, /no lease: s3:\/\/prod\/bins\/ is locked by another promote run/);
  await held.release();
  const ok = await run(m, createBackends({ s3: s3.client }));
  t.is(ok.exitCode, 0, ok.stdout);
});

test('registry: a lock tag stops a second run, and its release frees the destination', async (t) => {
  const [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), prod.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const images = await pushBigImages(staging.host, 'k8s-staging-img', { count: 1, baseBytes: 1000, ownBytes: 1000 });
  const m = await writeImageManifests(dir, 'k8s-staging-img', `${staging.host}/k8s-staging-img`, [`${prod.host}/prod`], images);
  const held = await acquire(registryLeaseSlot(new RegistryClient(prod.host), `${prod.host}/prod`), SHORT);
  const refused = await run(m, createBackends());
  t.is(refused.exitCode, 1);
  t.regex(refused.stdout, new RegExp(`no lease: ${prod.host}/prod is locked by another promote run`));
  await held.release();
  const ok = await run(m, createBackends());
  t.is(ok.exitCode, 0, ok.stdout);
  t.is(ok.results.filter((r) => !r.error).length, 2);
});
