// skopeo, a real registry client, pulls through the redirector from two "regions": each lands
// on its region's docker-registry, the repository prefix is mapped, and the digests match.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { writeConfig } from '../helpers/config.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forwarding-proxy.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { requireTool, skopeo, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const GB_CLIENT = '81.2.69.160';
const US_CLIENT = '8.8.8.8';
const PRIVATE_CLIENT = '10.20.30.40';

let euRegistry: Peer;
let usRegistry: Peer;
let image: BuiltImage;
let redirector: RedirectorProcess;
const proxies: Record<string, ForwardingProxy> = {};

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  [euRegistry, usRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  image = await buildMultiArchImage(tempDir('artifact-serving-image-'), { seed: 'redirector-e2e', tag: 'v1' });
  // The EU mirror keeps images under a repository prefix, as production registries do.
  await Promise.all([pushImage(image, euRegistry.host, 'mirror/eu/kops/app', 'v1'), pushImage(image, usRegistry.host, 'kops/app', 'v1')]);
  // A tag only the EU mirror has: proves which registry answered a tag list.
  const euRepo = `${euRegistry.host}/mirror/eu/kops/app`;
  await skopeo(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${euRepo}:v1`, `docker://${euRepo}:eu-only`]);

  const config = writeConfig(`
trustedProxies: [127.0.0.1/32]
registry:
  namespaces: [registry.example]
mirrors:
  eu-reg: { registry: ${euRegistry.url}, repository: mirror/eu }
  us-reg: { registry: ${usRegistry.url} }
routes:
  - prefix: /v2/
    regions:
      Europe: eu-reg
      10.20.0.0/16: eu-reg
    default: us-reg
`);
  redirector = await startRedirectorProcess(config);
  for (const [name, ip] of Object.entries({ gb: GB_CLIENT, us: US_CLIENT, private: PRIVATE_CLIENT })) {
    proxies[name] = await startForwardingProxy(redirector.url, ip);
  }
});

test.after.always(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await redirector?.stop();
  await Promise.all([euRegistry?.stop(), usRegistry?.stop()]);
});

async function copyAll(proxy: ForwardingProxy): Promise<{ dir: string; indexDigest: string }> {
  const dir = tempDir('artifact-serving-pulled-');
  await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${proxy.host}/kops/app:v1`, `oci:${dir}:v1`], { timeoutMs: 90_000 });
  const layoutIndex = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return { dir, indexDigest: layoutIndex.manifests[0]!.digest };
}

for (const [name, proxyName, expectedMirror] of [
  ['a client in Europe (GeoIP via trusted X-Forwarded-For)', 'gb', 'eu-reg'],
  ['a client in the US', 'us', 'us-reg'],
  ['a private client (CIDR rule)', 'private', 'eu-reg'],
] as const) {
  test.serial(`skopeo copy --all through the redirector: ${name} lands on ${expectedMirror}`, async (t) => {
    const proxy = proxies[proxyName]!;
    const head = await fetch(`${proxy.url}/v2/kops/app/manifests/v1`, { method: 'HEAD', redirect: 'manual' });
    t.is(head.status, 307);
    t.is(head.headers.get('x-artifact-mirror'), expectedMirror);

    const pulled = await copyAll(proxy);
    t.is(pulled.indexDigest, image.indexDigest);
    // Every platform's manifest and layer arrived intact.
    for (const platform of image.platforms) {
      for (const digest of [platform.digest, platform.configDigest, ...platform.layerDigests]) {
        const bytes = await readFile(join(pulled.dir, 'blobs/sha256', digest.slice('sha256:'.length)));
        t.is(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
      }
    }
    const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${proxy.host}/kops/app`]);
    const list = (JSON.parse(tags.stdout) as { Tags: string[] }).Tags.sort();
    t.deepEqual(list, expectedMirror === 'eu-reg' ? ['eu-only', 'v1'] : ['v1']);
  });
}

test.serial('skopeo inspect by digest, through the redirector, returns the exact index bytes', async (t) => {
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${proxies.gb!.host}/kops/app@${image.indexDigest}`]);
  t.is(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, image.indexDigest);
  const index = JSON.parse(raw.stdout) as { manifests: { platform: { architecture: string } }[] };
  t.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
});

test.serial('registry-mirror mode: containerd-style ?ns= requests are served for known names only', async (t) => {
  const known = await fetch(`${proxies.gb!.url}/v2/kops/app/manifests/v1?ns=registry.example`, { method: 'HEAD', redirect: 'manual' });
  t.is(known.status, 307);
  // ns names the upstream for this redirector; it is not passed on to the mirror.
  t.is(known.headers.get('location'), `${euRegistry.url}/v2/mirror/eu/kops/app/manifests/v1`);
  // Following it reaches the real registry.
  const followed = await fetch(known.headers.get('location')!, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
  t.is(followed.status, 200);
  t.is(followed.headers.get('docker-content-digest'), image.indexDigest);
  const unknown = await fetch(`${proxies.gb!.url}/v2/kops/app/manifests/v1?ns=docker.io`, { redirect: 'manual' });
  t.is(unknown.status, 404);
  t.is(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_UNKNOWN');
});

test.serial('spoofed X-Forwarded-For from an untrusted address is ignored', async (t) => {
  // Straight to the redirector (the peer is 127.0.0.1, trusted): a forged chain still ends at the
  // rightmost untrusted hop, never at what the client wrote first.
  const response = await fetch(`${redirector.url}/v2/kops/app/manifests/v1`, { method: 'HEAD', redirect: 'manual', headers: { 'X-Forwarded-For': `${GB_CLIENT}, ${US_CLIENT}` } });
  t.is(response.headers.get('x-artifact-mirror'), 'us-reg');
});
