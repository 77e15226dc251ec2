// The compose stack without Docker: the same config (config/compose/config.yaml), sample files
// and nginx server directives (deploy/compose/nginx/default.conf.template) on Debian's nginx and
// docker-registry, with the real redirector process in front. Only the ports differ: each
// `localhost:PORT` of the config is rewritten to the free port its peer got here.
import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildMultiArchImage, pushImage } from '../helpers/image.js';
import { startNginx, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { readYaml, repoPath } from './deployment-files.js';
import { tempDir } from '../helpers/temp-dir.js';

const compose = readYaml('docker-compose.yml');
const services = compose['services'] as Record<string, { image: string; environment?: Record<string, string>; volumes?: string[] }>;

/** The template's server directives for one mirror, as the nginx image's envsubst would render them (listen, server_name and root are the helper's). */
async function serverDirectives(name: string): Promise<string> {
  const template = await readFile(repoPath('deploy/compose/nginx/default.conf.template'), 'utf8');
  const body = /server\s*\{([\s\S]*)\}\s*$/.exec(template.replace(/#.*$/gm, ''))![1]!;
  return body
    .split('\n')
    .filter((line) => !/^\s*(listen|server_name|root)\b/.test(line))
    .join('\n')
    .replace(/\$\{MIRROR_NAME\}/g, name);
}

interface Stack {
  redirectorUrl: string;
  peerUrl(service: string): string;
}
let stack: Stack | undefined;
const stops: (() => Promise<void>)[] = [];
test.after.always(async () => {
  for (const stop of stops.reverse()) await stop();
});

test.before(async (t) => {
  // Start every peer the compose file runs, keyed by the port the config knows it by.
  const byPort = new Map<number, { service: string; peer: Peer }>();
  for (const [service, spec] of Object.entries(services)) {
    const env = spec.environment ?? {};
    let peer: Peer | undefined;
    let port: number | undefined;
    if (spec.image === 'nginx:stable' && env['NGINX_PORT']) {
      const root = spec.volumes!.map((v) => v.split(':')).find(([, target]) => target === '/usr/share/nginx/html')![0]!;
      peer = await startNginx({ root: repoPath(root), extraServerConfig: await serverDirectives(env['MIRROR_NAME']!) });
      port = Number(env['NGINX_PORT']);
    } else if (spec.image === 'registry:2') {
      peer = await startRegistry();
      port = Number(env['REGISTRY_HTTP_ADDR']!.replace(/^.*:/, ''));
    }
    if (peer && port) {
      stops.push(() => peer.stop());
      byPort.set(port, { service, peer });
    }
  }
  if (byPort.size !== 5) throw new Error(`expected 5 peers in docker-compose.yml, found ${byPort.size}`);

  const original = await readFile(repoPath('config/compose/config.yaml'), 'utf8');
  const rewritten = original.replace(/http:\/\/localhost:(\d+)/g, (whole, port: string) => byPort.get(Number(port))?.peer.url ?? whole);
  const dir = tempDir('artifact-serving-compose-');
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, rewritten);

  const redirector = await startRedirectorProcess(configFile);
  stops.push(() => redirector.stop());

  // Probes (every 5 s, up after 2) bring every mirror up.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { mirrors: { name: string; up: boolean }[] };
    if (status.mirrors.length === 5 && status.mirrors.every((m) => m.up)) break;
    if (Date.now() > deadline) throw new Error(`mirrors not all up: ${JSON.stringify(status.mirrors)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const peerUrl = (service: string) => [...byPort.values()].find((p) => p.service === service)!.peer.url;
  stack = { redirectorUrl: redirector.url, peerUrl };

  // Images: v1 on registry-us (the origin) only, v2 on both registries.
  const image = await buildMultiArchImage(tempDir('artifact-serving-compose-image-'), { seed: 'compose', tag: 'v1' });
  const image2 = await buildMultiArchImage(tempDir('artifact-serving-compose-image-'), { seed: 'compose-2', tag: 'v2' });
  const host = (service: string) => new URL(peerUrl(service)).host;
  await pushImage(image, host('registry-us'), 'library/demo', 'v1');
  await Promise.all([pushImage(image2, host('registry-us'), 'library/demo', 'v2'), pushImage(image2, host('registry-eu'), 'library/demo', 'v2')]);
  t.pass();
});

const ask = (path: string, forwardedFor?: string) => fetch(`${stack!.redirectorUrl}${path}`, { method: 'HEAD', redirect: 'manual', headers: forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {} });

test('compose stack: binaries go to the mirror of the client region, or to the origin when no mirror has them, and the redirect leads to the file', async (t) => {
  const peerUrl = stack!.peerUrl;
  // Binaries, as in the comments of docker-compose.yml.
  const cases: [string, string | undefined, string][] = [
    ['/releases/v1.0.0/hello.txt', '81.2.69.160', 'mirror-eu'],
    ['/releases/v1.0.0/hello.txt', '8.8.8.8', 'mirror-us'],
    ['/releases/v1.1.0/hello.txt', '81.2.69.160', 'origin'],
    ['/releases/v1.0.0/hello.txt.sha256', undefined, 'origin'],
  ];
  for (const [path, forwardedFor, service] of cases) {
    const response = await ask(path, forwardedFor);
    t.is(response.status, 302, `${path} from ${forwardedFor}`);
    const location = response.headers.get('location')!;
    t.is(location, `${peerUrl(service)}${path.slice('/releases'.length)}`, `${path} from ${forwardedFor}`);
    t.is(response.headers.get('x-artifact-mirror'), service);
    // The redirect leads to the file, served by the mirror it names.
    const file = await fetch(location);
    t.is(file.status, 200);
    t.is(file.headers.get('x-served-by'), service);
    t.is(await file.text(), await readFile(repoPath('deploy/compose/origin', path.slice('/releases'.length)), 'utf8'));
  }
});

async function manifestMirror(t: ExecutionContext, tag: string, forwardedFor: string): Promise<string | null> {
  const response = await ask(`/v2/library/demo/manifests/${tag}`, forwardedFor);
  t.is(response.status, 307);
  t.log(`${tag} from ${forwardedFor}: ${response.headers.get('x-artifact-mirror')}; skipped: ${response.headers.get('x-artifact-skipped') ?? 'none'}`);
  return response.headers.get('x-artifact-mirror');
}

test('compose stack: an image only the origin registry holds is served from it, to every region', async (t) => {
  t.is((await fetch(`${stack!.redirectorUrl}/v2/`)).status, 200);
  t.is(await manifestMirror(t, 'v1', '81.2.69.160'), 'registry-us', 'registry-eu lacks v1: the origin');
  t.is(await manifestMirror(t, 'v2', '8.8.8.8'), 'registry-us');
});

// A distribution registry answers 404 for an OCI image index unless the Accept header names it:
// the availability check must send the manifest media types, or registry-eu would look empty.
test('compose stack: an image both registries hold is served to Europe from registry-eu', async (t) => {
  t.is(await manifestMirror(t, 'v2', '81.2.69.160'), 'registry-eu');
});
