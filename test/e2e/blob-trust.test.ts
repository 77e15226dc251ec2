// Mirror trust for blob buckets (issue 13 with issue 9's rules): a bucket served by nginx holds a
// promoted image's blobs and its ownership token; the registry origin holds the image. `audit`
// reads the manifests from the origin and checks every blob in the bucket, finding nothing wrong
// with a complete bucket; then a blob goes missing, a layer's bytes are altered, the token is
// replaced by another destination's. `audit` names each, and `explain` (serve's own decision)
// sends no client to what is wrong.
import test from 'ava';
import { copyFile, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OWNER_FILE, ownershipToken } from '../../src/trust/ownership.js';
import { writeConfig } from '../helpers/config.js';
import { buildMultiArchImage, pushImage, pushSignature, type BuiltImage } from '../helpers/image.js';
import { requireTool, startNginx, startRegistry, type Peer } from '../helpers/peers.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEY = 'blob-ownership-key-0123456789';
const CLIENT = '10.1.0.5';

let work: string;
let origin: Peer;
let nginx: Peer;
let image: BuiltImage;
let configFile: string;
let destination: string;
/** The layer (payload) blob of the index's `.sig` and of the amd64 manifest's `.att`, as the bucket holds them. */
const artifactLayers: string[] = [];

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  requireTool('nginx', 'nginx');
  work = tempDir('blob-trust-');
  origin = await startRegistry();
  image = await buildMultiArchImage(join(work, 'image'), { seed: 'blob-trust', tag: 'v1', layers: 2 });
  await pushImage(image, origin.host, 'prod/kops/pause', 'v1');
  const bucket = join(work, 'bucket');
  nginx = await startNginx({ root: bucket });
  destination = pathToFileURL(bucket).href;
  // The blobs in the agreed layout, and the token, as promote writes them into a blob-bucket destination.
  await mkdir(join(bucket, 'containers/images'), { recursive: true });
  for (const digest of allBlobs()) await copyFile(blobFile(digest), join(bucket, 'containers/images', digest));
  await writeToken(destination);
  // A signature of the index and an attestation of a platform manifest, in the origin; their blobs
  // in the bucket, as the promoter's blob-bucket destination copies them with the image.
  await pushSignature(origin.host, 'prod/kops/pause', image.indexDigest);
  await pushSignature(origin.host, 'prod/kops/pause', image.platforms[0]!.digest, { suffix: '.att' });
  for (const digest of [image.indexDigest, image.platforms[0]!.digest]) {
    const tag = `sha256-${digest.slice('sha256:'.length)}.${digest === image.indexDigest ? 'sig' : 'att'}`;
    const manifest = (await (await fetch(`${origin.url}/v2/prod/kops/pause/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    for (const blob of [manifest.config, ...manifest.layers]) {
      const bytes = Buffer.from(await (await fetch(`${origin.url}/v2/prod/kops/pause/blobs/${blob.digest}`)).arrayBuffer());
      await writeFile(join(bucket, 'containers/images', blob.digest), bytes);
    }
    artifactLayers.push(manifest.layers[0]!.digest);
  }

  const manifests = join(work, 'manifests');
  await mkdir(join(manifests, 'manifests', 'kops'), { recursive: true });
  await mkdir(join(manifests, 'images', 'kops'), { recursive: true });
  await writeFile(join(manifests, 'manifests', 'kops', 'promoter-manifest.yaml'), `registries:\n- name: 127.0.0.1:1/staging/kops\n  src: true\n- name: ${origin.host}/prod/kops\n`);
  await writeFile(join(manifests, 'images', 'kops', 'images.yaml'), `- name: pause\n  dmap:\n    "${image.indexDigest}": ["v1"]\n`);
  configFile = writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  bucket: { blobs: ${nginx.url} }
  origin-reg: { registry: ${origin.url}, repository: prod }
routes:
  - prefix: /v2/
    regions:
      ${CLIENT}/32: [bucket, origin-reg]
    default: origin-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${manifests} }
  ownership:
    key: ${KEY}
    destinations:
      bucket: ${destination}
  audit: { requestsPerSecond: 500, sampleBytes: 100000000 }
`);
});

test.after.always(async () => {
  await Promise.all([origin?.stop(), nginx?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

function allBlobs(): string[] {
  return image.platforms.flatMap((p) => [p.configDigest, ...p.layerDigests]);
}

function blobFile(digest: string): string {
  return join(image.layoutDir, 'blobs/sha256', digest.slice('sha256:'.length));
}

async function writeToken(of: string): Promise<void> {
  await mkdir(join(nginx.dir, '.artifact-serving'), { recursive: true });
  await writeFile(join(nginx.dir, OWNER_FILE), `${ownershipToken(KEY, of)}\n`);
}

async function explainBlob(digest: string): Promise<{ mirror: string; verdicts: { mirror: string; outcome: string; reason?: string }[] }> {
  const run = await runCli(['explain', '--config', configFile, '--ip', '127.0.0.1', '--forwarded-for', CLIENT, '--json', `/v2/kops/pause/blobs/${digest}`]);
  if (run.code !== 0) throw new Error(`explain: exit ${run.code}\n${run.stderr}`);
  return JSON.parse(run.stdout) as { mirror: string; verdicts: { mirror: string; outcome: string; reason?: string }[] };
}

test.serial('a complete bucket with its own token: no findings, and blobs go there', async (t) => {
  const audit = await runCli(['audit', '--config', configFile]);
  t.is(audit.stdout, '', audit.stderr);
  t.is(audit.code, 0);
  t.is((await explainBlob(image.platforms[0]!.layerDigests[0]!)).mirror, 'bucket');
});

test.serial('a blob missing from the bucket is named, and that blob comes from the registry', async (t) => {
  const gone = image.platforms[0]!.layerDigests[1]!;
  await unlink(join(nginx.dir, 'containers/images', gone));
  t.teardown(() => copyFile(blobFile(gone), join(nginx.dir, 'containers/images', gone)));
  const audit = await runCli(['audit', '--config', configFile]);
  t.is(audit.code, 1);
  t.deepEqual(audit.stdout.trim().split('\n'), [`bucket kops/pause@${gone} blob missing`]);
  const decision = await explainBlob(gone);
  t.is(decision.mirror, 'origin-reg');
  t.like(decision.verdicts[0], { mirror: 'bucket', outcome: 'skipped', reason: 'does not have it (HTTP 404)' });
});

test.serial('the blobs of signatures and attestations are audited in the bucket too: a missing one is named', async (t) => {
  for (const layer of artifactLayers) {
    const path = join(nginx.dir, 'containers/images', layer);
    const bytes = await readFile(path);
    await unlink(path);
    t.teardown(() => writeFile(path, bytes));
  }
  const audit = await runCli(['audit', '--config', configFile]);
  t.is(audit.code, 1);
  t.deepEqual(audit.stdout.trim().split('\n').sort(), artifactLayers.map((layer) => `bucket kops/pause@${layer} blob missing`).sort());
});

test.serial('altered bytes in the bucket are found by the sampled download', async (t) => {
  const layer = image.platforms[1]!.layerDigests[0]!;
  const path = join(nginx.dir, 'containers/images', layer);
  const bytes = await readFile(path);
  const altered = Buffer.from(bytes);
  altered[altered.length - 1] = (altered[altered.length - 1]! + 1) % 256;
  await writeFile(path, altered);
  t.teardown(() => writeFile(path, bytes));
  const audit = await runCli(['audit', '--config', configFile]);
  t.is(audit.code, 1);
  t.regex(audit.stdout, new RegExp(`^bucket kops/pause@${layer} bytes differ: they hash to sha256:[0-9a-f]{64}$`, 'm'));
});

test.serial('a token made for another destination takes the whole bucket out', async (t) => {
  await writeToken('s3://someone-elses-bucket');
  t.teardown(() => writeToken(destination));
  const audit = await runCli(['audit', '--config', configFile]);
  t.is(audit.code, 1);
  t.regex(audit.stdout, new RegExp(`^bucket owner ownership token belongs to s3://someone-elses-bucket, not ${destination.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const decision = await explainBlob(image.platforms[0]!.layerDigests[0]!);
  t.is(decision.mirror, 'origin-reg');
  t.like(decision.verdicts[0], { mirror: 'bucket', outcome: 'skipped', reason: `excluded: ownership token belongs to s3://someone-elses-bucket, not ${destination}` });
});
