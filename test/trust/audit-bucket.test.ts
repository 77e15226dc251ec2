// The audit of a blob bucket covers what the promoter's blob-bucket destination copies with an
// image: the blobs of the image's manifests, and of its signatures, attestations and SBOMs (the
// `sha256-<hex>.sig|.att|.sbom` tags) and referrers, as the origin holds them. The origin (a
// registry with the referrers API) and the bucket are answered by a fake fetch: no I/O.
import test from 'ava';
import { createHash } from 'node:crypto';
import { runAudit } from '../../src/trust/audit.js';
import { loadExpected } from '../../src/trust/expected.js';
import { compile, writePromoterManifests } from '../helpers/config.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REPO = 'https://origin.example/v2/prod/kops/pause';

const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A manifest with one config and one layer, and the blobs it names. */
function manifest(seed: string, extra: Record<string, unknown> = {}): { bytes: Buffer; digest: string; config: Buffer; layer: Buffer } {
  const config = Buffer.from(JSON.stringify({ seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/octet-stream', digest: digestOf(layer), size: layer.length }],
      ...extra,
    }),
  );
  return { bytes, digest: digestOf(bytes), config, layer };
}

const image = manifest('image');
const signature = manifest('signature');
const sbom = manifest('sbom', { artifactType: 'application/spdx+json', subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length } });

/** The origin's answers (manifests by digest and tag, referrers) and the bucket's blobs, by URL. */
function world(): Map<string, { body: Buffer; type?: string; digest?: string }> {
  const urls = new Map<string, { body: Buffer; type?: string; digest?: string }>();
  for (const m of [image, signature, sbom]) {
    urls.set(`${REPO}/manifests/${m.digest}`, { body: m.bytes, type: OCI_MANIFEST, digest: m.digest });
    for (const blob of [m.config, m.layer]) urls.set(`https://bucket.example/containers/images/${digestOf(blob)}`, { body: blob });
  }
  urls.set(`${REPO}/manifests/sha256-${image.digest.slice('sha256:'.length)}.sig`, { body: signature.bytes, type: OCI_MANIFEST, digest: signature.digest });
  const index = (entries: { digest: string; size: number }[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries.map((e) => ({ mediaType: OCI_MANIFEST, ...e })) }));
  // The referrers API: the SBOM refers to the image; nothing refers to the others.
  urls.set(`${REPO}/referrers/${image.digest}`, { body: index([{ digest: sbom.digest, size: sbom.bytes.length }]), type: OCI_INDEX });
  for (const m of [signature, sbom]) urls.set(`${REPO}/referrers/${m.digest}`, { body: index([]), type: OCI_INDEX });
  return urls;
}

function fakeFetch(urls: ReturnType<typeof world>): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const found = urls.get(url);
    if (!found) return new Response(null, { status: 404 });
    const headers: Record<string, string> = { 'content-length': String(found.body.length), ...(found.type && { 'content-type': found.type }), ...(found.digest && { 'docker-content-digest': found.digest }) };
    return new Response(init?.method === 'HEAD' ? null : new Uint8Array(found.body), { status: 200, headers });
  }) as typeof fetch;
}

async function auditBucket(urls: ReturnType<typeof world>): Promise<string[]> {
  const root = writePromoterManifests('origin.example/prod/kops', image.digest);
  const config = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  bucket: { blobs: https://bucket.example, probe: false }
  origin-reg: { registry: https://origin.example, repository: prod, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: [bucket, origin-reg] }
    default: origin-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${root} }
`);
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) throw new Error('expected content should load');
  const result = await runAudit(config, loaded.expected, { mirror: 'bucket', requestsPerSecond: 100_000, sampleBytes: 1 << 20, fetch: fakeFetch(urls) });
  return result.findings.map((f) => `${f.mirror} ${f.object} ${f.problem}`).sort();
}

test('a bucket holding the image, its signature and its referrer blobs has no findings', async (t) => {
  t.deepEqual(await auditBucket(world()), []);
});

test("a bucket missing a signature's or a referrer's blob gets a finding for each", async (t) => {
  const urls = world();
  for (const blob of [signature.layer, sbom.config]) urls.delete(`https://bucket.example/containers/images/${digestOf(blob)}`);
  t.deepEqual(await auditBucket(urls), [`bucket kops/pause@${digestOf(signature.layer)} blob missing`, `bucket kops/pause@${digestOf(sbom.config)} blob missing`].sort());
});
