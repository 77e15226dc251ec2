// `validate --online` checks production, not only staging: what a destination's ledger says was
// promoted must still be there with the recorded digest or sha256, and no tag or file a manifest
// names may hold other content. Real docker-registry and a production folder.
import test from 'ava';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { validateManifests } from '../../src/promoter/validate.js';
import { writeRandomFile } from '../helpers/image.js';
import { startRegistry } from '../helpers/peers.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';
import { tree } from '../promoter/fixtures.js';
import { captureIo } from '../helpers/io.js';

async function validate(dir: string) {
  const { out, io } = captureIo();
  const code = await validateManifests({ dir, online: true, parallel: 2 }, createBackends(), io);
  return { code, ...out };
}

async function confirm(dir: string) {
  const { out, io } = captureIo();
  const r = await promote({ dir, confirm: true, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, createBackends(), io);
  return { code: r.exitCode, ...out };
}

test('validate --online: an image the ledger says was promoted but is gone, and a moved tag', async (t) => {
  const [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), prod.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const images = await pushBigImages(staging.host, 'k8s-staging-v', { count: 2, baseBytes: 500, ownBytes: 500 });
  const m = await writeImageManifests(dir, 'k8s-staging-v', `${staging.host}/k8s-staging-v`, [`${prod.host}/prod`], images);

  const before = await validate(m);
  t.is(before.code, 0, before.stderr);
  t.regex(before.stdout, /OK: 1 project\(s\) valid, staging and production checked \(4 action\(s\) not promoted yet/);
  t.is((await confirm(m)).code, 0);
  const clean = await validate(m);
  t.is(clean.code, 0, clean.stderr);
  t.regex(clean.stdout, /OK: 1 project\(s\) valid, staging and production checked\.\n/);

  // Someone deletes img-0 from production and points img-1:v1 at img-1's amd64 manifest.
  const [img0, img1] = images as [(typeof images)[0], (typeof images)[0]];
  const client = new RegistryClient(prod.host);
  t.true(await client.deleteManifest(`prod/${img0.name}`, img0.digest));
  const index = await client.getManifest(`prod/${img1.name}`, img1.digest);
  const amd64 = (JSON.parse(index!.bytes.toString('utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
  const moved = await client.putManifest(`prod/${img1.name}`, 'v1', (await client.getManifest(`prod/${img1.name}`, amd64))!);
  const bad = await validate(m);
  t.is(bad.code, 1);
  t.regex(bad.stderr, new RegExp(`not-in-production: ${prod.host}/prod/${img0.name}@${img0.digest} is in the ledger but not in production`));
  t.regex(bad.stderr, new RegExp(`not-in-production: ${prod.host}/prod/${img0.name}:v1 \\(${img0.digest}\\) is in the ledger but not in production`));
  t.regex(bad.stderr, new RegExp(`tag-move: ${prod.host}/prod/${img1.name}:v1 is ${moved}; the manifest says ${img1.digest}`));
  t.regex(bad.stdout, /3 problem\(s\)/);
});

test('validate --online: a production file deleted or with other bytes is an error', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', 'k8s-staging-f');
  const prod = join(dir, 'prod');
  const a = await writeRandomFile(join(staging, 'v1/a'), 3000, 'a');
  const b = await writeRandomFile(join(staging, 'v1/b'), 3000, 'b');
  const m = join(dir, 'manifests');
  await mkdir(join(m, 'filestores', 'k8s-staging-f'), { recursive: true });
  await mkdir(join(m, 'manifests', 'k8s-staging-f'), { recursive: true });
  await writeFile(join(m, 'filestores', 'k8s-staging-f', 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${pathToFileURL(prod).href}/\n`);
  await writeFile(join(m, 'manifests', 'k8s-staging-f', 'files.yaml'), `files:\n- name: v1/a\n  sha256: ${a}\n- name: v1/b\n  sha256: ${b}\n`);
  t.is((await confirm(m)).code, 0);
  t.is((await validate(m)).code, 0);

  await rm(join(prod, 'v1/a'));
  await writeFile(join(prod, 'v1/b'), 'tampered');
  // The manifest drops b: its ledger entry alone says what production should hold.
  await writeFile(join(m, 'manifests', 'k8s-staging-f', 'files.yaml'), `files:\n- name: v1/a\n  sha256: ${a}\n`);
  const bad = await validate(m);
  t.is(bad.code, 1, bad.stdout);
  const base = pathToFileURL(prod).href;
  t.regex(bad.stderr, new RegExp(`not-in-production: ${base}/v1/a \\(sha256 ${a}\\) is in the ledger but not in production`));
  t.regex(bad.stderr, new RegExp(`not-in-production: ${base}/v1/b has sha256 [0-9a-f]{64}; the ledger says ${b}`));

  // Named by the manifest again, other bytes under it are the plan's file-conflict.
  await writeFile(join(m, 'manifests', 'k8s-staging-f', 'files.yaml'), `files:\n- name: v1/b\n  sha256: ${b}\n`);
  const conflict = await validate(m);
  t.is(conflict.code, 1);
  t.regex(conflict.stderr, /file-conflict: .*v1\/b has sha256/);
});
