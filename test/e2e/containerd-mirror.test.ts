// containerd, the runtime on Kubernetes nodes, pulls through the redirector: directly by its
// name, and as a registry mirror listed in hosts.toml (containerd then adds ?ns=<registry>).
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { writeConfig } from '../helpers/config.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { freePort, requireTool, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

let registry: Peer;
/** One image per test, so no test can pass on content an earlier one fetched. */
const images: Record<'mirror' | 'direct' | 'fallback', BuiltImage> = {} as Record<'mirror' | 'direct' | 'fallback', BuiltImage>;
let redirector: RedirectorProcess;
let containerd: Containerd;
let unreachableUpstream: string;

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  registry = await startRegistry();
  for (const name of ['mirror', 'direct', 'fallback'] as const) {
    images[name] = await buildMultiArchImage(tempDir('containerd-image-'), { seed: `containerd-${name}`, tag: 'v1' });
    await pushImage(images[name], registry.host, `prod/${name}`, 'v1');
  }
  const config = writeConfig(`
registry:
  namespaces: [registry.example]
mirrors:
  prod: { registry: ${registry.url}, repository: prod }
routes:
  - prefix: /v2/
    default: prod
`);
  redirector = await startRedirectorProcess(config);
  containerd = await startContainerd();
  // Nothing listens here: if containerd got anything, the mirror gave it.
  unreachableUpstream = `http://127.0.0.1:${await freePort()}`;
});

test.after.always(async () => {
  await containerd?.stop();
  await redirector?.stop();
  await registry?.stop();
});

function allDigests(image: BuiltImage): string[] {
  return [image.indexDigest, ...image.platforms.flatMap((p) => [p.digest, p.configDigest, ...p.layerDigests])];
}

async function contentDigests(): Promise<string> {
  return containerd.ctr(['content', 'ls', '-q']);
}

async function hostsDir(namespace: string, upstream: string): Promise<string> {
  const dir = tempDir('containerd-hosts-');
  await mkdir(join(dir, namespace), { recursive: true });
  await writeFile(join(dir, namespace, 'hosts.toml'), `server = "${upstream}"\n\n[host."${redirector.url}"]\n  capabilities = ["pull", "resolve"]\n`);
  return dir;
}

test.serial('as a registry mirror in hosts.toml: every platform is fetched through the redirector', async (t) => {
  const hosts = await hostsDir('registry.example', unreachableUpstream);
  await containerd.ctr(['content', 'fetch', '--hosts-dir', hosts, '--all-platforms', 'registry.example/mirror:v1'], 90_000);
  const fetched = await contentDigests();
  for (const digest of allDigests(images.mirror)) t.true(fetched.includes(digest), `${digest} fetched`);
});

test.serial('pulling by the redirector’s own name works too', async (t) => {
  await containerd.ctr(['content', 'fetch', '--plain-http', '--all-platforms', `${redirector.url.replace('http://', '')}/direct:v1`], 90_000);
  const fetched = await contentDigests();
  for (const digest of allDigests(images.direct)) t.true(fetched.includes(digest), `${digest} fetched`);
});

test.serial('a registry the redirector does not mirror gets 404, and containerd falls back to its server', async (t) => {
  // The redirector serves registry.example only; for other.example containerd must go upstream.
  const hosts = await hostsDir('other.example', registry.url);
  await containerd.ctr(['content', 'fetch', '--hosts-dir', hosts, '--all-platforms', 'other.example/prod/fallback:v1'], 90_000);
  const fetched = await contentDigests();
  for (const digest of allDigests(images.fallback)) t.true(fetched.includes(digest), `${digest} fetched`);
  const direct = await fetch(`${redirector.url}/v2/fallback/manifests/v1?ns=other.example`, { redirect: 'manual' });
  t.is(direct.status, 404);
});
