// A real Docker engine pulls through the redirector, against real docker-registry mirrors, with
// matching digests: by the redirector's own name, by digest, and as a `registry-mirrors` entry
// (the daemon.json `artifact-serving client-config --for docker` writes). Docker mirrors Docker
// Hub names only, so that pull is of a library/... name the redirector routes.
import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { startDocker, type DockerEngine } from '../helpers/docker.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { requireTool, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

let mirror: Peer;
let redirector: RedirectorProcess;
let docker: DockerEngine;
let daemonJson: string;
const images = {} as Record<'byName' | 'byDigest' | 'hub', BuiltImage>;
const dirs: string[] = [];

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  mirror = await startRegistry();
  for (const [name, repo] of [
    ['byName', 'team/by-name'],
    ['byDigest', 'team/by-digest'],
    ['hub', 'library/hub-image'],
  ] as const) {
    const dir = tempDir('docker-image-');
    dirs.push(dir);
    images[name] = await buildMultiArchImage(dir, { seed: `docker-${name}`, tag: 'v1' });
    await pushImage(images[name], mirror.host, repo, 'v1');
  }
  const config = writeConfig(`
mirrors:
  mirror: { registry: ${mirror.url} }
routes:
  - prefix: /v2/
    default: mirror
`);
  redirector = await startRedirectorProcess(config);
  const out = tempDir('docker-client-config-');
  dirs.push(out);
  let err = '';
  const code = await main(['client-config', '--config', config, '--for', 'docker', '--url', redirector.url, '--registry', 'docker.io', '--out', out], {
    stdout: () => undefined,
    stderr: (s) => (err += s),
  });
  if (code !== 0) throw new Error(`client-config exited ${code}: ${err}`);
  daemonJson = await readFile(join(out, 'etc/docker/daemon.json'), 'utf8');
  docker = await startDocker({ daemonJson });
});

test.after.always(async () => {
  await docker?.stop();
  await redirector?.stop();
  await mirror?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function repoDigests(reference: string): Promise<string[]> {
  return JSON.parse(await docker.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', reference])) as string[];
}

const host = () => redirector.url.replace('http://', '');

test.serial('docker pull by the redirector’s own name', async (t) => {
  await docker.docker(['pull', `${host()}/team/by-name:v1`]);
  t.deepEqual(await repoDigests(`${host()}/team/by-name:v1`), [`${host()}/team/by-name@${images.byName.indexDigest}`]);
});

test.serial('docker pull by digest', async (t) => {
  const reference = `${host()}/team/by-digest@${images.byDigest.indexDigest}`;
  await docker.docker(['pull', reference]);
  t.deepEqual(await repoDigests(reference), [reference]);
});

test.serial('docker pull of a Docker Hub name through registry-mirrors from client-config', async (t) => {
  t.deepEqual(JSON.parse(daemonJson), { 'registry-mirrors': [redirector.url] });
  const info = JSON.parse(await docker.docker(['info', '--format', '{{json .RegistryConfig.Mirrors}}'])) as string[];
  t.deepEqual(info, [`${redirector.url}/`]);
  await docker.docker(['pull', 'hub-image:v1']);
  t.deepEqual(await repoDigests('hub-image:v1'), [`hub-image@${images.hub.indexDigest}`]);
});

test.serial('with the redirector stopped, Docker falls back from the mirror to Docker Hub itself', async (t) => {
  await redirector.stop();
  // Docker Hub's names resolve to 127.0.0.1 inside dockerd's namespace (test/helpers/docker.ts),
  // where nothing answers on 443: the error shows Docker went on to the canonical registry.
  const error = await t.throwsAsync(docker.docker(['pull', 'other-image:v1'], 180_000));
  t.regex(error!.message, /https:\/\/registry-1\.docker\.io\/v2\/.*127\.0\.0\.1:443/);
  t.log(error!.message.trim());
});
