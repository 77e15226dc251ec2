// Referrers by proof, end to end (issue 9): "referrers go only to mirrors holding the image's
// complete set, else to the origin; never an empty referrers list where the origin has entries".
// Debian's docker-registry (distribution 2.8) has no referrers API, so each registry sits behind a
// real nginx that answers `/v2/<name>/referrers/<digest>` with an OCI index (the origin's and one
// mirror's list the image's signature, the other mirror's list is empty) and passes everything
// else to the registry. Before any audit every referrers request goes to the origin; after it, a
// client of the complete mirror goes there, a client of the empty one to the origin, and every
// client that follows its redirect gets the origin's entries.
import test from 'ava';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { buildMultiArchImage, pushImage, pushSignature, type BuiltImage } from '../helpers/image.js';
import { requireTool, startNginx, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const REPO = 'prod/kops/pause';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const CLIENT = { complete: '10.1.0.1', empty: '10.2.0.1' };

let dir: string;
const peers: Peer[] = [];
let image: BuiltImage;
let sigDigest: string;
const front: Record<'origin' | 'complete' | 'empty', Peer> = {} as never;
let manifests: string;

/** nginx in front of a registry, answering the referrers API for the image with `entries`. */
async function registryWithReferrers(name: string, entries: object[]): Promise<Peer> {
  const registry = await startRegistry();
  peers.push(registry);
  await pushImage(image, registry.host, REPO, 'v1');
  sigDigest = await pushSignature(registry.host, REPO, image.indexDigest, { annotated: false });
  // No extension: nginx then answers with default_type, the OCI index media type.
  const file = join(dir, `${name}-referrers`);
  writeFileSync(file, JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: entries }));
  const nginx = await startNginx({
    extraServerConfig: `
    location = /v2/${REPO}/referrers/${image.indexDigest} {
      default_type ${INDEX};
      alias ${JSON.stringify(file)};
    }
    location / {
      proxy_pass http://${registry.host};
    }`,
  });
  peers.push(nginx);
  return nginx;
}

function config(audit: string): string {
  return writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  complete-reg: { registry: ${front.complete.url}, repository: prod }
  empty-reg: { registry: ${front.empty.url}, repository: prod }
  origin-reg: { registry: ${front.origin.url}, repository: prod }
routes:
  - prefix: /v2/
    regions:
      ${CLIENT.complete}/16: complete-reg
      ${CLIENT.empty}/16: empty-reg
    default: empty-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${manifests} }
  audit: { requestsPerSecond: 200, sampleBytes: 0${audit} }
`);
}

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  requireTool('nginx', 'nginx');
  dir = tempDir('artifact-serving-trust-referrers-');
  image = await buildMultiArchImage(await mkdtemp(join(dir, 'image-')), { seed: 'trust-referrers', tag: 'v1' });
  // The signature's digest is the same everywhere (same bytes): the referrer entry names it.
  front.empty = await registryWithReferrers('empty', []);
  const entry = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sigDigest, size: 1, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' };
  front.origin = await registryWithReferrers('origin', [entry]);
  front.complete = await registryWithReferrers('complete', [entry]);
  manifests = mkdtempSync(join(dir, 'manifests-'));
  mkdirSync(join(manifests, 'manifests', 'kops'), { recursive: true });
  mkdirSync(join(manifests, 'images', 'kops'), { recursive: true });
  writeFileSync(join(manifests, 'manifests', 'kops', 'promoter-manifest.yaml'), `registries:\n- name: 127.0.0.1:1/staging/kops\n  src: true\n- name: ${front.complete.host}/prod/kops\n`);
  writeFileSync(join(manifests, 'images', 'kops', 'images.yaml'), `- name: pause\n  dmap:\n    "${image.indexDigest}": ["v1"]\n`);
});

test.after.always(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Asks the redirector for the image's referrers as `client`; follows the redirect; returns where it went and the list there. */
async function referrers(redirectorUrl: string, client: string): Promise<{ mirror: string | null; digests: string[] }> {
  const response = await fetch(`${redirectorUrl}/v2/kops/pause/referrers/${image.indexDigest}`, { redirect: 'manual', headers: { 'X-Forwarded-For': client, accept: INDEX } });
  await response.body?.cancel();
  const location = response.headers.get('location');
  if (!location) throw new Error(`no redirect: HTTP ${response.status}`);
  const list = await fetch(new URL(location, redirectorUrl), { headers: { accept: INDEX } });
  if (!(list.headers.get('content-type') ?? '').startsWith(INDEX)) throw new Error(`${location}: content-type ${list.headers.get('content-type')}`);
  const index = (await list.json()) as { manifests: { digest: string }[] };
  return { mirror: response.headers.get('x-artifact-mirror'), digests: index.manifests.map((m) => m.digest) };
}

test.serial('the audit names the mirror whose referrers list is incomplete', async (t) => {
  t.timeout(120_000);
  let stdout = '';
  const code = await main(['audit', '--config', config('')], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: () => undefined,
  });
  t.is(code, 1);
  t.is(stdout, `empty-reg kops/pause@${image.indexDigest} referrers incomplete: 1 of the origin's 1 missing\n`);
});

test.serial('referrers go to the origin until the audit proves a mirror complete; never an empty list', async (t) => {
  t.timeout(180_000);
  // No background audit: nothing is proven, so every referrers request goes to the origin.
  const unaudited = await startRedirectorProcess(config(''));
  t.teardown(() => unaudited.stop());
  for (const client of Object.values(CLIENT)) t.deepEqual(await referrers(unaudited.url, client), { mirror: 'origin-reg', digests: [sigDigest] }, `${client} before any audit`);
  await unaudited.stop();

  const audited = await startRedirectorProcess(config(', intervalSeconds: 3600, sliceSeconds: 1'));
  t.teardown(() => audited.stop());
  await audited.waitForLog(/audit finished/, 90_000);
  t.deepEqual(await referrers(audited.url, CLIENT.complete), { mirror: 'complete-reg', digests: [sigDigest] }, 'the mirror proven complete serves them');
  t.deepEqual(await referrers(audited.url, CLIENT.empty), { mirror: 'origin-reg', digests: [sigDigest] }, 'the empty list is never handed out: the origin answers');
  // A loop of clients of both regions: every one gets the origin's entries, none an empty list.
  for (let i = 0; i < 10; i++) {
    for (const client of Object.values(CLIENT)) t.deepEqual((await referrers(audited.url, client)).digests, [sigDigest], `request ${i + 1} as ${client}`);
  }
});
