// The files `artifact-serving client-config` writes, used as written by real clients: containerd
// (ctr, with certs.d/<registry>/hosts.toml) and podman (with the registries.conf drop-in) pull
// through the redirector, and fall back to the canonical registry when it is stopped.
//
// The canonical registry ("upstream") and the mirror the redirector sends clients to are two
// docker-registry processes. An image only the mirror holds can only come through the
// redirector; after the redirector stops, an image only upstream holds proves the fallback.
import test from 'ava';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { requireTool, startRegistry, type Peer } from '../helpers/peers.js';
import { podman as runPodman } from '../helpers/podman.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

let upstream: Peer;
let mirror: Peer;
let redirector: RedirectorProcess;
let containerd: Containerd;
let configFile: string;
const images = {} as Record<'ctrMirror' | 'ctrFallback' | 'podmanMirror' | 'podmanFallback', BuiltImage>;
const dirs: string[] = [];

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  requireTool('podman', 'podman');
  [upstream, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  for (const [name, where] of [
    ['ctrMirror', mirror],
    ['ctrFallback', upstream],
    ['podmanMirror', mirror],
    ['podmanFallback', upstream],
  ] as const) {
    const dir = tempDir('client-config-image-');
    dirs.push(dir);
    images[name] = await buildMultiArchImage(dir, { seed: `client-config-${name}`, tag: 'v1' });
    await pushImage(images[name], where.host, `team/${name.toLowerCase()}`, 'v1');
  }
  configFile = writeConfig(`
registry:
  namespaces: [${upstream.host}]
mirrors:
  mirror: { registry: ${mirror.url} }
routes:
  - prefix: /v2/
    default: mirror
`);
  redirector = await startRedirectorProcess(configFile);
  containerd = await startContainerd();
});

test.after.always(async () => {
  await containerd?.stop();
  await redirector?.stop();
  await Promise.all([upstream?.stop(), mirror?.stop()]);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Runs client-config and returns the directory it wrote the client's files under. */
async function clientFiles(client: string): Promise<string> {
  const out = tempDir(`client-config-${client}-`);
  dirs.push(out);
  let err = '';
  const code = await main(['client-config', '--config', configFile, '--for', client, '--url', redirector.url, '--registry', upstream.url, '--out', out], {
    stdout: () => undefined,
    stderr: (s) => (err += s),
  });
  if (code !== 0) throw new Error(`client-config --for ${client} exited ${code}: ${err}`);
  return out;
}

function allDigests(image: BuiltImage): string[] {
  return [image.indexDigest, ...image.platforms.flatMap((p) => [p.digest, p.configDigest, ...p.layerDigests])];
}

function podman(root: string, args: string[]): Promise<string> {
  return runPodman(root, args, { CONTAINERS_REGISTRIES_CONF: join(root, 'etc/containers/registries.conf.d/50-artifact-serving.conf') });
}

test.serial('containerd pulls through the redirector with the generated hosts.toml', async (t) => {
  const out = await clientFiles('containerd');
  const hostsToml = await readFile(join(out, 'etc/containerd/certs.d', upstream.host, 'hosts.toml'), 'utf8');
  t.regex(hostsToml, new RegExp(`^server = "${upstream.url}"$`, 'm'));
  t.true(hostsToml.includes(`[host."${redirector.url}"]`));
  // Only the mirror holds this image: it can only have come through the redirector.
  await containerd.ctr(['content', 'fetch', '--hosts-dir', join(out, 'etc/containerd/certs.d'), '--all-platforms', `${upstream.host}/team/ctrmirror:v1`], 120_000);
  const fetched = await containerd.ctr(['content', 'ls', '-q']);
  for (const digest of allDigests(images.ctrMirror)) t.true(fetched.includes(digest), `${digest} fetched`);
});

test.serial('podman pulls through the redirector with the generated registries.conf', async (t) => {
  const out = await clientFiles('cri-o');
  await writeFile(join(out, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await podman(out, ['pull', '--quiet', '--signature-policy', join(out, 'policy.json'), `${upstream.host}/team/podmanmirror:v1`]);
  const digest = (await podman(out, ['image', 'inspect', '--format', '{{.Digest}}', `${upstream.host}/team/podmanmirror:v1`])).trim();
  t.is(digest, images.podmanMirror.indexDigest);
  await rm(join(out, 'root'), { recursive: true, force: true }).catch(() => undefined);
});

test.serial('with the redirector stopped, both fall back to the canonical registry', async (t) => {
  const ctrFiles = await clientFiles('containerd');
  const podmanFiles = await clientFiles('cri-o');
  await writeFile(join(podmanFiles, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await redirector.stop();
  // Only upstream holds these images.
  await containerd.ctr(['content', 'fetch', '--hosts-dir', join(ctrFiles, 'etc/containerd/certs.d'), '--all-platforms', `${upstream.host}/team/ctrfallback:v1`], 120_000);
  const fetched = await containerd.ctr(['content', 'ls', '-q']);
  for (const digest of allDigests(images.ctrFallback)) t.true(fetched.includes(digest), `${digest} fetched`);
  await podman(podmanFiles, ['pull', '--quiet', '--signature-policy', join(podmanFiles, 'policy.json'), `${upstream.host}/team/podmanfallback:v1`]);
  const digest = (await podman(podmanFiles, ['image', 'inspect', '--format', '{{.Digest}}', `${upstream.host}/team/podmanfallback:v1`])).trim();
  t.is(digest, images.podmanFallback.indexDigest);
});
