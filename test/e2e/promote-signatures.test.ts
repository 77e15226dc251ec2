// Signatures, attestations and SBOMs pushed to staging after their image was promoted follow it:
// the plan reports each destination missing one (`copy-referrers`), and --confirm copies them.
// They are found as cosign tags (`sha256-<hex>.sig`), as OCI referrers through the tag-schema
// fallback (`sha256-<hex>` -> an index of manifests with a `subject`: all Debian's
// docker-registry 2.8 supports), and through the OCI referrers API (added here by a small proxy
// in front of docker-registry), for an image's digest and for the platform manifests of an index.
import test from 'ava';
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient, sha256Digest, type Descriptor } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { skopeo, startRegistry } from '../helpers/peers.js';
import { pushSignature } from '../helpers/image.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';
import { tree } from '../promoter/fixtures.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-signed';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A cosign-style signature artifact, tagged `sha256-<hex><suffix>` next to the image. */
function pushReferrerTag(host: string, repo: string, digest: string, suffix: string, extra = ''): Promise<string> {
  return pushSignature(host, repo, digest, { suffix, extra: { suffix, extra }, annotated: false });
}

test('a .sig and an .sbom pushed to staging after promotion are planned and copied to every destination', async (t) => {
  const [staging, a, b] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), a.stop(), b.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const [image] = await pushBigImages(staging.host, PROJECT, { count: 1, baseBytes: 1000, ownBytes: 1000 });
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`, `${b.host}/prod`], [image!]);
  const run = async (confirm: boolean) => {
    const { out, io } = captureIo();
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
  for (const host of [a.host, b.host])
    t.regex(dry.stdout, new RegExp(`-> ${host}/prod: copy-referrers 1;[^\\n]*\\n\\s+copy referrers of ${image!.name}@${image!.digest}: missing sha256-${hex}\\.sig, sha256-${hex}\\.sbom`));

  const done = await run(true);
  t.is(done.exitCode, 0, done.stderr);
  for (const host of [a.host, b.host]) {
    for (const [suffix, digest] of [
      ['.sig', sig],
      ['.sbom', sbom],
    ] as const) {
      const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/prod/${image!.name}:sha256-${hex}${suffix}`]);
      t.is(`sha256:${createHash('sha256').update(stdout).digest('hex')}`, digest);
    }
  }
  t.regex((await run(false)).stdout, /Nothing to do/);
});

/** An OCI 1.1 artifact whose `subject` is `subject` (pushed by digest); returns its descriptor. */
async function pushArtifact(host: string, repo: string, subject: Descriptor, artifactType: string): Promise<Descriptor & { artifactType: string }> {
  const client = new RegistryClient(host);
  const payload = Buffer.from(JSON.stringify({ artifactType, subject: subject.digest, at: Date.now() }));
  const empty = Buffer.from('{}');
  for (const b of [payload, empty]) await client.uploadBlob(repo, sha256Digest(b), b, b.length);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(empty), size: empty.length },
      layers: [{ mediaType: 'application/json', digest: sha256Digest(payload), size: payload.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    }),
  );
  const digest = await client.putManifest(repo, sha256Digest(bytes), { bytes, mediaType: OCI_MANIFEST });
  return { mediaType: OCI_MANIFEST, digest, size: bytes.length, artifactType };
}

/** The platform manifests of an index in a registry. */
async function childrenOf(host: string, repo: string, digest: string): Promise<Descriptor[]> {
  const m = await new RegistryClient(host).getManifest(repo, digest);
  return (JSON.parse(m!.bytes.toString('utf8')) as { manifests: Descriptor[] }).manifests;
}

async function digestOf(host: string, repo: string, ref: string): Promise<string | undefined> {
  return (await new RegistryClient(host).headManifest(repo, ref))?.digest;
}

function runner(m: string) {
  return async (confirm: boolean) => {
    const { out, io } = captureIo();
    const r = await promote({ dir: m, confirm, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, createBackends(), io);
    return { ...r, ...out };
  };
}

test('docker-registry 2.8 has no OCI referrers API: the client says so (the tag-schema fallback is used)', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const [image] = await pushBigImages(reg.host, PROJECT, { count: 1, baseBytes: 100, ownBytes: 100 });
  t.is(await new RegistryClient(reg.host).referrers(`${PROJECT}/${image!.name}`, image!.digest), undefined);
});

test('a re-signed .sig, a fallback-index referrer of a platform manifest, and a late destination', async (t) => {
  const [staging, a, b] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), a.stop(), b.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const [image] = await pushBigImages(staging.host, PROJECT, { count: 1, baseBytes: 1000, ownBytes: 1000 });
  const repo = `${PROJECT}/${image!.name}`;
  const hex = image!.digest.slice(7);
  await pushReferrerTag(staging.host, repo, image!.digest, '.sig', 'first signature');
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`], [image!]);
  const run = runner(m);
  t.is((await run(true)).exitCode, 0);
  t.regex((await run(false)).stdout, /Nothing to do/);

  // cosign appends a signature in staging (the .sig tag moves); an SBOM is attached to the
  // arm64 manifest as an OCI referrer, indexed by the fallback tag `sha256-<child hex>`.
  const sig2 = await pushReferrerTag(staging.host, repo, image!.digest, '.sig', 'second signature');
  const arm64 = (await childrenOf(staging.host, repo, image!.digest))[1]!;
  const sbom = await pushArtifact(staging.host, repo, arm64, 'application/spdx+json');
  const childTag = `sha256-${arm64.digest.slice(7)}`;
  const fallback = await new RegistryClient(staging.host).putManifest(repo, childTag, { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [sbom] })), mediaType: OCI_INDEX });

  const dry = await run(false);
  t.is(dry.exitCode, 0, dry.stdout);
  t.regex(dry.stdout, new RegExp(`-> ${a.host}/prod: copy-referrers 1;[^\\n]*\\n\\s+copy referrers of ${image!.name}@${image!.digest}: missing ${childTag}; changed in staging sha256-${hex}\\.sig\\n`));

  // b is added after the image was promoted: it gets the image with all its referrers.
  await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`, `${b.host}/prod`], [image!]);
  const done = await run(true);
  t.is(done.exitCode, 0, done.stdout + done.stderr);
  for (const host of [a.host, b.host]) {
    t.is(await digestOf(host, `prod/${image!.name}`, `sha256-${hex}.sig`), sig2, host);
    t.is(await digestOf(host, `prod/${image!.name}`, childTag), fallback, host);
    t.is(await digestOf(host, `prod/${image!.name}`, sbom.digest), sbom.digest, host);
  }
  t.regex((await run(false)).stdout, /Nothing to do/);
});

/** docker-registry behind a proxy that answers the OCI referrers API from `index` (subject -> referrers). */
async function referrersApiProxy(target: string, index: Map<string, Descriptor[]>) {
  const upstream = new URL(`http://${target}`);
  const server = createServer((req, res) => {
    const api = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method === 'GET' && api) {
      res.writeHead(200, { 'content-type': OCI_INDEX });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index.get(api[2]!) ?? [] }));
      return;
    }
    const out = request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (up) => {
      const h = { ...up.headers };
      if (typeof h.location === 'string') h.location = h.location.replace(upstream.origin, `http://${req.headers.host}`);
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('referrers only the OCI referrers API lists (of the index and of a platform manifest) are planned and copied', async (t) => {
  const [registry, a] = await Promise.all([startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([registry.stop(), a.stop()]));
  const index = new Map<string, Descriptor[]>();
  const staging = await referrersApiProxy(registry.host, index);
  t.teardown(() => staging.stop());
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const [image] = await pushBigImages(staging.host, PROJECT, { count: 1, baseBytes: 1000, ownBytes: 1000 });
  const repo = `${PROJECT}/${image!.name}`;
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`], [image!]);
  const run = runner(m);
  t.is((await run(true)).exitCode, 0);
  t.regex((await run(false)).stdout, /Nothing to do/);

  const [amd64] = await childrenOf(staging.host, repo, image!.digest);
  const top = await new RegistryClient(staging.host).headManifest(repo, image!.digest);
  const sig = await pushArtifact(staging.host, repo, { mediaType: OCI_INDEX, digest: image!.digest, size: top!.size }, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  const att = await pushArtifact(staging.host, repo, amd64!, 'application/vnd.in-toto+json');
  index.set(image!.digest, [sig]);
  index.set(amd64!.digest, [att]);

  const dry = await run(false);
  t.is(dry.exitCode, 0, dry.stdout);
  t.regex(dry.stdout, new RegExp(`copy referrers of ${image!.name}@${image!.digest}: missing referrers ${sig.digest}, ${att.digest}\\n`));
  const done = await run(true);
  t.is(done.exitCode, 0, done.stdout + done.stderr);
  const dst = new RegistryClient(a.host);
  for (const [subject, r] of [
    [image!.digest, sig],
    [amd64!.digest, att],
  ] as const) {
    t.is(await digestOf(a.host, `prod/${image!.name}`, r.digest), r.digest);
    // docker-registry has no referrers API: the fallback tag indexes them there.
    const fallback = await dst.getManifest(`prod/${image!.name}`, `sha256-${subject.slice(7)}`);
    t.deepEqual(
      (JSON.parse(fallback!.bytes.toString('utf8')) as { manifests: Descriptor[] }).manifests.map((d) => d.digest),
      [r.digest],
    );
  }
  t.regex((await run(false)).stdout, /Nothing to do/);
});
