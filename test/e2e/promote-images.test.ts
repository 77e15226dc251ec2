// Images end to end with real registries (docker-registry) as staging and two production
// regions, plus a folder and s3rver for files in the same run: a multi-arch image with a
// cosign-style signature reaches every destination, proven with skopeo and sha256; a tag move
// is refused unless marked as a rollback; --prune deletes only what the ledger owns.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildMultiArchImage, pushImage, pushSignature, writeRandomFile } from '../helpers/image.js';
import { skopeo, startRegistry } from '../helpers/peers.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { sha256OfStream } from '../../src/promoter/verify.js';
import { tree } from '../promoter/fixtures.js';
import { startS3 } from '../promoter/s3.js';

const PROJECT = 'k8s-staging-app';

async function rawDigest(ref: string): Promise<string> {
  const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
  return `sha256:${createHash('sha256').update(stdout).digest('hex')}`;
}

test('a signed multi-arch image and a set of binaries reach every destination; tag moves and prune are guarded', async (t) => {
  const [staging, prod1, prod2, s3] = await Promise.all([startRegistry(), startRegistry(), startRegistry(), startS3(['prod'])]);
  t.teardown(() => Promise.all([staging.stop(), prod1.stop(), prod2.stop(), s3.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);

  const v1 = await buildMultiArchImage(join(dir, 'img-v1'), { seed: 'v1', tag: 'v1' });
  const d1 = await pushImage(v1, staging.host, `${PROJECT}/app`, 'v1');
  t.is(d1, v1.indexDigest);
  const sig = await pushSignature(staging.host, `${PROJECT}/app`, d1);

  // Binaries of the same release.
  const stagingFiles = join(dir, 'staging-files', PROJECT);
  const prodFiles = join(dir, 'prod-files');
  const bins: Record<string, string> = {};
  for (const name of ['v1/linux/amd64/app', 'v1/linux/arm64/app']) bins[name] = await writeRandomFile(join(stagingFiles, name), 200_000, name);

  const manifests = join(dir, 'manifests');
  const writeImages = async (yaml: string) => {
    await mkdir(join(manifests, 'registry', 'images', PROJECT), { recursive: true });
    await writeFile(join(manifests, 'registry', 'images', PROJECT, 'images.yaml'), yaml);
  };
  await mkdir(join(manifests, 'registry', 'manifests', PROJECT), { recursive: true });
  await writeFile(
    join(manifests, 'registry', 'manifests', PROJECT, 'promoter-manifest.yaml'),
    `registries:\n- name: ${staging.host}/${PROJECT}\n  src: true\n- name: ${prod1.host}/images\n- name: ${prod2.host}/images\n`,
  );
  await writeImages(`- name: app\n  dmap:\n    "${d1}": ["v1"]\n`);
  await mkdir(join(manifests, 'artifacts', 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'artifacts', 'manifests', PROJECT), { recursive: true });
  await writeFile(
    join(manifests, 'artifacts', 'filestores', PROJECT, 'filepromoter-manifest.yaml'),
    `filestores:\n- base: ${pathToFileURL(stagingFiles).href}/\n  src: true\n- base: ${pathToFileURL(prodFiles).href}/\n- base: s3://prod/binaries/app/\n`,
  );
  await writeFile(
    join(manifests, 'artifacts', 'manifests', PROJECT, 'v1.yaml'),
    `files:\n${Object.entries(bins)
      .map(([n, s]) => `- name: ${n}\n  sha256: ${s}\n`)
      .join('')}`,
  );

  const backends = createBackends({ s3: s3.client });
  const run = async (opts: { confirm?: boolean; prune?: boolean } = {}) => {
    let stdout = '';
    let stderr = '';
    const r = await promote({ dir: manifests, confirm: opts.confirm ?? false, prune: opts.prune ?? false, parallel: 4, retry: { attempts: 3, baseMs: 1, maxMs: 5 } }, backends, {
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
    });
    return { ...r, stdout, stderr };
  };

  const dry = await run();
  t.is(dry.exitCode, 0, dry.stdout + dry.stderr);
  t.regex(dry.stdout, new RegExp(`${prod1.host}/images: copy-image 1, tag 1`));
  const done = await run({ confirm: true });
  t.is(done.exitCode, 0, done.stdout + done.stderr);

  // Production holds exactly the manifest: the index, both platform manifests, the signature.
  for (const prod of [prod1, prod2]) {
    t.is(await rawDigest(`docker://${prod.host}/images/app:v1`), d1);
    for (const p of v1.platforms) t.is(await rawDigest(`docker://${prod.host}/images/app@${p.digest}`), p.digest);
    t.is(await rawDigest(`docker://${prod.host}/images/app:sha256-${d1.slice(7)}.sig`), sig);
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', '--override-os', 'linux', '--override-arch', 'arm64', `docker://${prod.host}/images/app:v1`]);
    const inspected = JSON.parse(stdout) as { Architecture: string; Layers: string[] };
    t.is(inspected.Architecture, 'arm64');
    t.deepEqual(inspected.Layers, v1.platforms.find((p) => p.architecture === 'arm64')?.layerDigests);
  }
  const s3store = new S3Store('s3://prod/binaries/app/', s3.client);
  for (const [name, sha] of Object.entries(bins)) {
    t.is((await sha256OfStream(await s3store.read(name))).sha256, sha);
    t.is(
      (
        await sha256OfStream(
          await createBackends()
            .store(`${pathToFileURL(prodFiles).href}/`)
            .read(name),
        )
      ).sha256,
      sha,
    );
  }
  const again = await run();
  t.regex(again.stdout, /Nothing to do: production already matches every manifest\./);

  // A tag move: v1 rebuilt. Refused without a rollback marker; production untouched.
  const v2 = await buildMultiArchImage(join(dir, 'img-v2'), { seed: 'v2', tag: 'v1' });
  const d2 = await pushImage(v2, staging.host, `${PROJECT}/app`, 'v1');
  await writeImages(`- name: app\n  dmap:\n    "${d1}": ["v1-old"]\n    "${d2}": ["v1"]\n`);
  const refused = await run({ confirm: true });
  t.is(refused.exitCode, 1);
  t.regex(refused.stdout, /error: tag-move: .*\/images\/app:v1 is sha256:/);
  t.is(await rawDigest(`docker://${prod1.host}/images/app:v1`), d1);

  await writeImages(`- name: app\n  rollback: ["v1"]\n  dmap:\n    "${d1}": ["v1-old"]\n    "${d2}": ["v1"]\n`);
  const moved = await run({ confirm: true });
  t.is(moved.exitCode, 0, moved.stdout + moved.stderr);
  for (const prod of [prod1, prod2]) t.is(await rawDigest(`docker://${prod.host}/images/app:v1`), d2);

  // Prune: d1 leaves the manifest. An image pushed to production by someone else stays.
  const other = await buildMultiArchImage(join(dir, 'img-other'), { seed: 'other', tag: 'x' });
  const dOther = await pushImage(other, prod1.host, 'images/app', 'x');
  await writeImages(`- name: app\n  rollback: ["v1"]\n  dmap:\n    "${d2}": ["v1"]\n`);
  const pruned = await run({ confirm: true, prune: true });
  t.is(pruned.exitCode, 0, pruned.stdout + pruned.stderr);
  t.regex(pruned.stdout, new RegExp(`delete app@${d1}`));
  const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${prod1.host}/images/app@${d1}`], { allowFail: true });
  t.not(gone.code, 0);
  t.is(await rawDigest(`docker://${prod1.host}/images/app:x`), dOther);
  t.is(await rawDigest(`docker://${prod2.host}/images/app:v1`), d2);
  const final = await run({ prune: true });
  t.regex(final.stdout, /Nothing to do/);
});
