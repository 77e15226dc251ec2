// Signatures, attestations and SBOMs pushed to staging after their image was promoted follow it:
// the plan reports each destination missing one (`copy-referrers`), and --confirm copies them.
import test from 'ava';
import { createHash } from 'node:crypto';
import { RegistryClient, sha256Digest } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { skopeo, startRegistry } from '../helpers/peers.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';
import { tree } from '../promoter/fixtures.js';

const PROJECT = 'k8s-staging-signed';

/** A cosign-style signature artifact, tagged `sha256-<hex>.<suffix>` next to the image. */
async function pushReferrerTag(host: string, repo: string, digest: string, suffix: string): Promise<string> {
  const client = new RegistryClient(host);
  const payload = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': digest } }, suffix }));
  const config = Buffer.from('{}');
  for (const b of [payload, config]) await client.uploadBlob(repo, sha256Digest(b), b, b.length);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256Digest(payload), size: payload.length }],
  }));
  return client.putManifest(repo, `sha256-${digest.slice(7)}${suffix}`, { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
}

test('a .sig and an .sbom pushed to staging after promotion are planned and copied to every destination', async (t) => {
  const [staging, a, b] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), a.stop(), b.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const [image] = await pushBigImages(staging.host, PROJECT, { count: 1, baseBytes: 1000, ownBytes: 1000 });
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`, `${b.host}/prod`], [image!]);
  const run = async (confirm: boolean) => {
    const out = { stdout: '', stderr: '' };
    const io = { stdout: (s: string) => { out.stdout += s; }, stderr: (s: string) => { out.stderr += s; } };
    const r = await promote({ dir: m, confirm, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, createBackends(), io);
    return { ...r, ...out };
  };
  t.is((await run(true)).exitCode, 0);
  t.regex((await run(false)).stdout, /Nothing to do/);

  const hex = image!.digest.slice(7);
  const sig = await pushReferrerTag(staging.host, `${PROJECT}/${image!.name}`, image!.digest, '.sig');
  const sbom = await pushReferrerTag(staging.host, `${PROJECT}/${image!.name}`, image!.digest, '.sbom');
  const dry = await run(false);
  t.is(dry.exitCode, 0);
  for (const host of [a.host, b.host]) t.regex(dry.stdout, new RegExp(`-> ${host}/prod: copy-referrers 1;[^\\n]*\\n\\s+copy referrers of ${image!.name}@${image!.digest}: missing sha256-${hex}\\.sig, sha256-${hex}\\.sbom`));

  const done = await run(true);
  t.is(done.exitCode, 0, done.stderr);
  for (const host of [a.host, b.host]) {
    for (const [suffix, digest] of [['.sig', sig], ['.sbom', sbom]] as const) {
      const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/prod/${image!.name}:sha256-${hex}${suffix}`]);
      t.is(`sha256:${createHash('sha256').update(stdout).digest('hex')}`, digest);
    }
  }
  t.regex((await run(false)).stdout, /Nothing to do/);
});
