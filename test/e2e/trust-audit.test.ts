// Mirror trust end to end (issue 9), with real docker-registry mirrors, skopeo and the real CLI:
// four mirrors and an origin hold one promoted multi-arch image, its cosign-style .sig, and an
// ownership token each; then each mirror goes wrong in its own way (a tag moved and a .sig
// deleted, a token copied from another mirror, a layer's bytes altered in storage). `audit`
// names each problem; `serve` with the background audit sends no client to what is wrong.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/oci/client.js';
import { writeRegistryToken } from '../../src/trust/ownership.js';
import { writeConfig } from '../helpers/config.js';
import { startForwardingProxy } from '../helpers/forwarding-proxy.js';
import { buildMultiArchImage, pushImage, pushSignature, type BuiltImage } from '../helpers/image.js';
import { requireTool, skopeo, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEY = 'test-ownership-key-0123456789';
const REPO = 'prod/kops/pause';
const CLIENT = { eu: '10.1.0.1', us: '10.2.0.1', ap: '10.3.0.1', sa: '10.4.0.1' };

let eu: Peer, us: Peer, ap: Peer, sa: Peer, origin: Peer;
let image: BuiltImage;
let other: BuiltImage;
let sigDigest: string;
let sigTag: string;
let configFile: string;

function pushImageSignature(registry: Peer): Promise<string> {
  return pushSignature(registry.host, REPO, image.indexDigest, { annotated: false });
}

function promoterManifests(): string {
  const root = tempDir('artifact-serving-trust-manifests-');
  mkdirSync(join(root, 'manifests', 'kops'), { recursive: true });
  mkdirSync(join(root, 'images', 'kops'), { recursive: true });
  const destinations = [eu, us, ap, sa, origin].map((r) => `- name: ${r.host}/prod/kops\n`).join('');
  writeFileSync(join(root, 'manifests', 'kops', 'promoter-manifest.yaml'), `registries:\n- name: 127.0.0.1:1/staging/kops\n  src: true\n${destinations}`);
  writeFileSync(join(root, 'images', 'kops', 'images.yaml'), `- name: pause\n  dmap:\n    "${image.indexDigest}": ["v1"]\n`);
  return root;
}

function config(audit: string): string {
  return writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000 }
mirrors:
  eu-reg: { registry: ${eu.url}, repository: prod }
  us-reg: { registry: ${us.url}, repository: prod }
  ap-reg: { registry: ${ap.url}, repository: prod }
  sa-reg: { registry: ${sa.url}, repository: prod }
  origin-reg: { registry: ${origin.url}, repository: prod }
routes:
  - prefix: /v2/
    regions:
      ${CLIENT.eu}/16: eu-reg
      ${CLIENT.ap}/16: ap-reg
      ${CLIENT.sa}/16: sa-reg
    default: us-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${promoterManifests()} }
  ownership: { key: ${KEY} }
  audit: { requestsPerSecond: 200, sampleBytes: 10000000${audit} }
`);
}

async function audit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(['audit', '--config', configFile, ...args]);
}

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  [eu, us, ap, sa, origin] = await Promise.all([startRegistry(), startRegistry(), startRegistry(), startRegistry(), startRegistry()]);
  image = await buildMultiArchImage(tempDir('artifact-serving-image-'), { seed: 'trust-promoted', tag: 'v1' });
  other = await buildMultiArchImage(tempDir('artifact-serving-image-'), { seed: 'trust-unreviewed', tag: 'v1' });
  sigTag = `${image.indexDigest.replace(':', '-')}.sig`;
  for (const registry of [eu, us, ap, sa, origin]) {
    await pushImage(image, registry.host, REPO, 'v1');
    sigDigest = await pushImageSignature(registry);
    await writeRegistryToken(new RegistryClient(registry.host), `${registry.host}/prod/kops`, KEY);
  }
  configFile = config('');
});

test.after.always(async () => {
  await Promise.all([eu, us, ap, sa, origin].map((r) => r?.stop()));
});

test.serial('audit: mirrors holding exactly what was promoted, with their own tokens, have no findings', async (t) => {
  t.timeout(120_000);
  const result = await audit();
  t.is(result.stdout, '');
  t.regex(result.stderr, /audited 4 mirror\(s\) .* 0 finding\(s\)/);
  t.is(result.code, 0);
});

test.serial('audit names a moved tag, a missing .sig, a copied token and altered bytes; serve routes around them', async (t) => {
  t.timeout(240_000);
  // us: the operator re-tags v1 to an image nobody reviewed, and deletes the signature.
  await pushImage(other, us.host, REPO, 'v1');
  t.is((await fetch(`${us.url}/v2/${REPO}/manifests/${sigDigest}`, { method: 'DELETE' })).status, 202);
  // ap: holds eu's token (copied), not its own.
  await writeRegistryToken(new RegistryClient(ap.host), `${eu.host}/prod/kops`, KEY);
  // sa: one layer's bytes altered in the registry's storage (same size, so only a hash sees it).
  const layer = image.platforms[0]!.layerDigests[0]!;
  const hex = layer.slice('sha256:'.length);
  const data = join(sa.dir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = await readFile(data);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await writeFile(data, bytes);

  const result = await audit();
  t.is(result.code, 1);
  const lines = result.stdout.trim().split('\n');
  t.log(lines.join('\n'));
  const otherIndex = createHash('sha256')
    .update(await readFile(join(other.layoutDir, 'blobs/sha256', other.indexDigest.slice(7))))
    .digest('hex');
  t.true(lines.includes(`us-reg kops/pause:v1 tag points at sha256:${otherIndex}, promoted ${image.indexDigest}`), 'the moved tag');
  t.true(lines.includes(`us-reg kops/pause:${sigTag} signature missing (the origin has it)`), 'the missing signature');
  t.true(lines.includes(`ap-reg owner kops ownership token belongs to ${eu.host}/prod/kops, not ${ap.host}/prod/kops`), 'the copied token');
  t.true(
    lines.some((l) => l.startsWith(`sa-reg kops/pause@${layer} bytes differ: they hash to sha256:`)),
    'the altered layer',
  );
  t.false(
    lines.some((l) => l.startsWith('eu-reg ')),
    'nothing on the good mirror',
  );

  const one = await audit('--mirror', 'us-reg', '--json');
  t.is(one.code, 1);
  const json = JSON.parse(one.stdout) as { mirrors: string[]; findings: { mirror: string; scope: string }[] };
  t.deepEqual(json.mirrors, ['us-reg']);
  t.true(json.findings.length === 2 && json.findings.every((f) => f.mirror === 'us-reg' && f.scope === 'object'));
  t.is((await audit('--mirror', 'nope')).code, 2);

  // explain says why, as serve decides: it reads the tokens and HEADs the tag.
  const explain = async (client: string, path: string) => (await runCli(['explain', '--config', configFile, '--ip', client, path])).stdout;
  t.regex(await explain(CLIENT.us, '/v2/kops/pause/manifests/v1'), /us-reg .*tag points at sha256:[0-9a-f]{12}… here, promoted sha256:[0-9a-f]{12}…/);
  t.regex(await explain(CLIENT.ap, `/v2/kops/pause/manifests/${image.indexDigest}`), new RegExp(`ap-reg .*excluded: ownership token belongs to ${eu.host}/prod/kops`));

  // serve, with the audit in the background: every client goes where the proof is.
  const redirector = await startRedirectorProcess(config(', intervalSeconds: 3600'));
  t.teardown(() => redirector.stop());
  await redirector.waitForLog(/audit finished/, 120_000);
  const where = async (client: string, path: string) => {
    const response = await fetch(`${redirector.url}/v2/kops/pause/${path}`, { method: 'HEAD', redirect: 'manual', headers: { 'X-Forwarded-For': client } });
    return response.headers.get('x-artifact-mirror');
  };
  t.is(await where(CLIENT.eu, 'manifests/v1'), 'eu-reg', 'the good mirror serves the tag');
  t.is(await where(CLIENT.eu, `manifests/${sigTag}`), 'eu-reg', 'and the signature: its set is complete');
  t.is(await where(CLIENT.us, 'manifests/v1'), 'origin-reg', 'the moved tag is skipped');
  t.is(await where(CLIENT.us, `manifests/${image.indexDigest}`), 'us-reg', 'the mirror still serves what it holds by digest');
  t.is(await where(CLIENT.us, `manifests/${sigTag}`), 'origin-reg', 'a missing .sig goes to the origin');
  // The next mirror on their list (the default, us-reg, which holds these by digest) serves them.
  t.is(await where(CLIENT.ap, `manifests/${image.indexDigest}`), 'us-reg', "no client for a mirror with another's token");
  t.is(await where(CLIENT.sa, `blobs/${image.platforms[1]!.layerDigests[0]}`), 'us-reg', 'altered bytes take the whole mirror out');

  const status = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { mirrors: { name: string; excluded?: string }[] };
  const excluded = Object.fromEntries(status.mirrors.map((m) => [m.name, m.excluded]));
  t.is(excluded['ap-reg'], `ownership token belongs to ${eu.host}/prod/kops, not ${ap.host}/prod/kops`);
  t.regex(excluded['sa-reg'] ?? '', /bytes differ/);
  t.is(excluded['eu-reg'], undefined);
  const html = await (await fetch(`${redirector.url}/-/status`)).text();
  t.regex(html, /excluded: ownership token belongs to/);

  // A pull loop by tag as the US client: always the promoted image, never the moved tag's.
  const proxy = await startForwardingProxy(redirector.url, CLIENT.us);
  t.teardown(() => proxy.close());
  for (let i = 0; i < 3; i++) {
    const dir = tempDir('artifact-serving-pulled-');
    try {
      await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${proxy.host}/kops/pause:v1`, `oci:${dir}:v1`], { timeoutMs: 90_000 });
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      t.is(index.manifests[0]!.digest, image.indexDigest, `pull ${i + 1} got the promoted image`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});
