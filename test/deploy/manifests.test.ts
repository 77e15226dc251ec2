// The deployment files (Dockerfile, docker-compose.yml, deploy/kubernetes) agree with each other
// and with the server: configs pass the real validator, probe paths are answered by the real
// server, ports and the config path line up, the image and pods run as non-root. No Docker or
// Kubernetes is needed: kustomize structure is checked by hand, and rendered with `kubectl
// kustomize` as well where kubectl is installed.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { explainCommand } from '../../src/commands/explain.js';
import { loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/yaml-source.js';
import { startRedirector } from '../helpers/redirector.js';
import {
  copyParts,
  dockerfileStages,
  dockerignored,
  dockerignorePatterns,
  execForm,
  findObject,
  flagValue,
  isK8sObject,
  kustomizationResources,
  parseYamlDocuments,
  readYaml,
  readYamlDocuments,
  repoPath,
  selects,
  yamlFilesUnder,
  type K8sObject,
  type Stage,
} from './deployment-files.js';
import type { Loose } from '../helpers/loose.js';

const BASE = 'deploy/kubernetes/base';
const OVERLAYS = 'deploy/kubernetes/overlays';
const REGIONS = ['asia-east', 'europe-west', 'us-central'];
const REGION_LABEL = 'artifact-serving.io/region';

const dockerfileText = readFileSync(repoPath('Dockerfile'), 'utf8');
const stages = dockerfileStages(dockerfileText);
const runtime = stages.at(-1)!;
const baseObjects = kustomizationResources(BASE).flatMap((r) => r.objects);
const deployment = findObject(baseObjects, 'Deployment');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0];

function only(stage: Stage, keyword: string): string {
  const found = stage.instructions.filter((i) => i.keyword === keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in stage ${stage.name ?? stage.image}, found ${found.length}`);
  return found[0]!.rest;
}

const entrypoint = execForm(only(runtime, 'ENTRYPOINT'));
const cmd = execForm(only(runtime, 'CMD'));
const healthcheck = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/s.exec(only(runtime, 'HEALTHCHECK'));

function assertValidConfig(file: string, text?: string): void {
  const result = text === undefined ? loadConfigFile(file) : loadConfigText(file, text);
  if (!result.ok) throw new Error(`${file} does not validate:\n${result.problems.map(formatProblem).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Every YAML file parses

test('every YAML file under deploy/, config/compose/ and docker-compose.yml parses, every document', (t) => {
  const files = [...yamlFilesUnder('deploy'), ...yamlFilesUnder('config/compose'), 'docker-compose.yml'];
  for (const expected of ['deploy/kubernetes/base/deployment.yaml', 'deploy/kubernetes/base/config.yaml', 'deploy/kubernetes/overlays/europe-west/kustomization.yaml', 'config/compose/config.yaml']) {
    t.true(files.includes(expected), expected);
  }
  let documents = 0;
  for (const file of files) {
    const docs = readYamlDocuments(file);
    t.true(docs.length >= 1, `${file} has no document`);
    documents += docs.length;
  }
  t.log(`${files.length} files, ${documents} documents`);
});

test('every Kubernetes manifest under deploy/kubernetes names apiVersion, kind and metadata.name', (t) => {
  for (const file of yamlFilesUnder('deploy/kubernetes')) {
    if (basename(file) === 'config.yaml') continue; // the redirector's config, not a manifest
    for (const doc of readYamlDocuments(file)) {
      t.true(isK8sObject(doc) || (doc as { kind?: string }).kind === 'Kustomization', `${file}: a document without apiVersion/kind/metadata.name`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Redirector configs pass the real validator

test('config/compose/config.yaml (the compose stack) passes the validator', (t) => {
  assertValidConfig(repoPath('config/compose/config.yaml'));
  t.pass();
});

test('the ConfigMap generated from the base kustomization holds a config that passes the validator', (t) => {
  const kustomization = readYaml(join(BASE, 'kustomization.yaml'));
  const generators = kustomization['configMapGenerator'] as { name: string; files: string[] }[];
  t.is(generators.length, 1);
  const files = generators[0]!.files.map((entry) => {
    const [key, path] = entry.includes('=') ? entry.split('=', 2) : [basename(entry), entry];
    return { key: key!, path: join(BASE, path!) };
  });
  t.true(files.length >= 1);
  for (const { key, path } of files) {
    if (!key.endsWith('.yaml')) continue;
    // As the pod reads it: the same bytes, under the mount path's file name.
    assertValidConfig(`/etc/artifact-serving/${key}`, readFileSync(repoPath(path), 'utf8'));
  }
  // Any plain ConfigMap with a config in it is checked too.
  for (const cm of baseObjects.filter((o) => o.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries(cm.data ?? {})) if (key.endsWith('.yaml')) assertValidConfig(key, text);
  }
});

test('the image default config (config/example.yaml) passes the validator', (t) => {
  const copy = runtime.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => copyParts(i.rest))
    .find((c) => c.dest === flagValue(cmd, '--config'));
  t.truthy(copy, 'the runtime stage copies a config to the CMD --config path');
  assertValidConfig(repoPath(copy!.sources[0]!));
});

// ---------------------------------------------------------------------------------------------
// Probes and health checks are answered by the real server

test('the Deployment probe paths and the Dockerfile HEALTHCHECK are answered 200 by the real server', async (t) => {
  const readiness = container.readinessProbe.httpGet;
  const liveness = container.livenessProbe.httpGet;
  t.is(readiness.path, '/readyz');
  t.is(liveness.path, '/healthz');
  for (const config of [join(BASE, 'config.yaml'), 'config/compose/config.yaml']) {
    const server = await startRedirector(repoPath(config));
    t.teardown(() => server.close());
    for (const path of [readiness.path, liveness.path]) {
      const response = await fetch(`${server.url}${path}`);
      t.is(response.status, 200, `${config}: ${path}`);
    }
  }
});

test('the Dockerfile HEALTHCHECK command, run by node, exits 0 against a live server and 1 when nothing answers', async (t) => {
  t.truthy(healthcheck, 'HEALTHCHECK ... CMD in exec form');
  const [binary, flag, script] = execForm(healthcheck![1]!);
  t.is(binary, 'node');
  t.is(flag, '-e');
  const target = `127.0.0.1:${flagValue(cmd, '--port')}`;
  t.true(script!.includes(`http://${target}/healthz`), 'asks /healthz on the CMD --port');
  const server = await startRedirector(repoPath('config/compose/config.yaml'));
  // Asynchronously: the server answering it runs in this process.
  const run = (url: string) =>
    new Promise<number | null>((done) => {
      const child = spawn(process.execPath, ['-e', script!.replace(`http://${target}`, url)], { stdio: 'ignore', timeout: 15_000 });
      child.on('exit', (code) => done(code));
    });
  t.is(await run(server.url), 0);
  await server.close();
  t.is(await run(server.url), 1);
});

// ---------------------------------------------------------------------------------------------
// The Dockerfile

test('Dockerfile: multi-stage on node:24-slim; npm ci and build, production deps only at runtime', (t) => {
  t.true(stages.length >= 2);
  for (const stage of stages) t.is(stage.image, 'node:24-slim');
  const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.rest);
  const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
  t.truthy(build, 'a stage runs npm run build');
  t.true(
    runs(build!).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev')),
    'the build stage installs dev dependencies (tsc)',
  );
  t.false(
    runs(runtime).some((r) => /\bnpm (ci|install)\b/.test(r) && !r.includes('--omit=dev')),
    'no dev dependencies in the runtime stage',
  );

  const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => copyParts(i.rest));
  const nodeModules = copies.find((c) => c.dest.replace(/\/$/, '').endsWith('node_modules'));
  if (nodeModules?.from) {
    const deps = stages.find((s) => s.name === nodeModules.from)!;
    t.true(
      runs(deps).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
      `node_modules comes from "${deps.name}", which runs npm ci --omit=dev`,
    );
  } else {
    t.true(
      runs(runtime).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
      'the runtime stage runs npm ci --omit=dev',
    );
  }
  const dist = copies.find((c) => c.sources.some((s) => /(^|\/)dist\/?$/.test(s)));
  t.is(dist?.from, build!.name, 'dist/ comes from the build stage');
  t.true(
    copies.some((c) => !c.from && c.sources.includes('config')),
    'config/ is in the image',
  );
});

test('Dockerfile: ENTRYPOINT, CMD, EXPOSE and the working directory', (t) => {
  t.deepEqual(entrypoint, ['node', 'dist/cli.js']);
  t.deepEqual(cmd, ['serve', '--config', '/etc/artifact-serving/config.yaml', '--port', '8080']);
  t.is<string | undefined, string | undefined>(
    only(runtime, 'EXPOSE')
      .split(/\s+/)[0]!
      .replace(/\/tcp$/, ''),
    flagValue(cmd, '--port'),
  );
  const workdir = only(runtime, 'WORKDIR');
  const distCopy = runtime.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => copyParts(i.rest))
    .find((c) => c.sources.some((s) => s.includes('dist')))!;
  t.is(posix.resolve(workdir, distCopy.dest), posix.resolve(workdir, 'dist'), 'dist/cli.js resolves from WORKDIR');
});

test('Dockerfile: the runtime user is numeric and not root (so runAsNonRoot can verify it)', (t) => {
  const users = runtime.instructions.filter((i) => i.keyword === 'USER');
  t.true(users.length >= 1);
  const [uid, gid] = users.at(-1)!.rest.split(':');
  t.regex(uid!, /^\d+$/);
  t.not(Number(uid), 0);
  if (gid !== undefined) t.not(Number(gid), 0);
});

test('.dockerignore keeps node_modules, dist, .git and test data out, and nothing the Dockerfile copies', (t) => {
  const patterns = dockerignorePatterns(readFileSync(repoPath('.dockerignore'), 'utf8'));
  for (const path of ['node_modules', 'node_modules/yaml/package.json', 'dist/cli.js', '.git/HEAD', 'test/deploy/manifests.test.ts', 'data/aws-ip-ranges.json', '.tmp/x']) {
    t.true(dockerignored(patterns, path), `${path} is excluded`);
  }
  const copied = stages.flatMap((s) =>
    s.instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => copyParts(i.rest))
      .filter((c) => !c.from)
      .flatMap((c) => c.sources),
  );
  t.true(copied.length >= 4);
  for (const source of copied) {
    t.false(dockerignored(patterns, source), `${source} is copied by the Dockerfile but excluded by .dockerignore`);
    t.true(existsSync(repoPath(source)), `${source} exists`);
  }
  for (const file of ['src/cli.ts', 'config/example.yaml', 'package-lock.json', 'tsconfig.build.json']) t.false(dockerignored(patterns, file), file);
});

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

const compose = readYaml('docker-compose.yml');
const services = compose['services'] as Record<string, Loose>;
const composeConfig = loadConfigFile(repoPath('config/compose/config.yaml'));

test('compose: the redirector is built from the Dockerfile and serves config/compose, mounted as a directory', (t) => {
  const redirector = services['redirector'];
  t.is(redirector.build, '.');
  t.falsy(redirector.command, 'runs the image CMD');
  const configPath = flagValue(cmd, '--config')!;
  const mount = (redirector.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === dirname(configPath));
  t.truthy(mount, `a volume at ${dirname(configPath)}`);
  t.true(statSync(repoPath(mount![0]!)).isDirectory(), 'the mount source is a directory (edits reach the watcher)');
  t.true(existsSync(repoPath(mount![0]!, basename(configPath))));
});

test('compose: nginx:stable mirrors and origin, two registry:2, all in the net namespace', (t) => {
  const images = Object.entries(services).map(([name, s]) => [name, s.image]);
  t.is(images.filter(([, image]) => image === 'registry:2').length, 2);
  for (const name of ['mirror-eu', 'mirror-us', 'origin']) t.is(services[name].image, 'nginx:stable');
  for (const [name, service] of Object.entries(services)) {
    if (name === 'net') continue;
    t.is(service.network_mode, 'service:net', `${name} joins net's network namespace`);
    t.falsy(service.ports, `${name}: ports are published by net`);
  }
});

test('compose: every mirror URL is localhost:PORT, published on the host, and served by the service listening there', (t) => {
  t.true(composeConfig.ok);
  if (!composeConfig.ok) return;
  const published = new Map<number, number>();
  for (const spec of services['net'].ports as string[]) {
    const [host, target] = spec.split(':').map(Number) as [number, number];
    published.set(host, target);
  }
  const listening = new Map<number, string>();
  for (const [name, service] of Object.entries(services)) {
    const env = (service.environment ?? {}) as Record<string, string>;
    if (env['NGINX_PORT']) listening.set(Number(env['NGINX_PORT']), name);
    if (env['REGISTRY_HTTP_ADDR']) listening.set(Number(env['REGISTRY_HTTP_ADDR'].replace(/^.*:/, '')), name);
  }
  listening.set(Number(flagValue(cmd, '--port')), 'redirector');
  t.is(published.get(8080), 8080, 'the redirector is on localhost:8080');
  const mirrors = composeConfig.config.mirrors;
  t.true(mirrors.size >= 5);
  for (const mirror of mirrors.values()) {
    const url = new URL(mirror.base);
    t.is(url.hostname, 'localhost', `${mirror.name}: ${mirror.base} must resolve for the client and inside the namespace`);
    const port = Number(url.port);
    t.is(published.get(port), port, `${mirror.name}: port ${port} is published as itself`);
    const service = listening.get(port);
    t.truthy(service, `${mirror.name}: some service listens on ${port}`);
    t.is(services[service!].image, mirror.kind === 'registry' ? 'registry:2' : 'nginx:stable', `${mirror.name} -> ${service}`);
    if (mirror.kind === 'binary') {
      // The probe file and the demo files are in the directory that nginx serves.
      const root = (services[service!].volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === '/usr/share/nginx/html')![0]!;
      t.true(existsSync(repoPath(root, new URL(mirror.probe!.url).pathname)), `${mirror.name}: probe file in ${root}`);
      t.true(existsSync(repoPath(root, 'v1.0.0/hello.txt')));
    }
  }
  t.true(existsSync(repoPath('deploy/compose/origin/v1.1.0/hello.txt')));
  t.false(existsSync(repoPath('deploy/compose/mirror-eu/v1.1.0/hello.txt')), 'v1.1.0 is on the origin only');
  const template = readFileSync(repoPath('deploy/compose/nginx/default.conf.template'), 'utf8');
  t.regex(template, /listen \$\{NGINX_PORT\};/);
});

test('compose: the address the redirector sees for a published port (the network gateway) is a trusted proxy', async (t) => {
  const ipam = compose['networks'].default.ipam.config[0] as { subnet: string; gateway: string };
  t.truthy(ipam.gateway, 'the gateway is pinned');
  const explain = async (peer: string) => {
    let out = '';
    const code = await explainCommand(['--config', repoPath('config/compose/config.yaml'), '--ip', peer, '--forwarded-for', '81.2.69.160', '--offline', '--json', '/releases/v1.0.0/hello.txt'], {
      stdout: (s) => (out += s),
      stderr: () => {},
    });
    t.is(code, 0);
    return JSON.parse(out) as { client: { ip: string; country: string }; verdicts: { mirror: string; region: string }[] };
  };
  const viaGateway = await explain(ipam.gateway);
  t.is(viaGateway.client.ip, '81.2.69.160', 'X-Forwarded-For is believed from the gateway');
  t.is(viaGateway.client.country, 'GB');
  t.is(viaGateway.verdicts[0]!.mirror, 'mirror-eu');
  // From anyone else it is ignored: the peer is the client.
  const stranger = await explain('192.0.2.10');
  t.is(stranger.client.ip, '192.0.2.10');
  t.is(stranger.verdicts[0]!.mirror, 'mirror-us');
});

// ---------------------------------------------------------------------------------------------
// Kubernetes base

test('k8s base: every resource and generator file exists; kustomize names the image the Deployment uses', (t) => {
  const kustomization = readYaml(join(BASE, 'kustomization.yaml'));
  for (const resource of kustomization['resources'] as string[]) t.true(existsSync(repoPath(BASE, resource)), resource);
  t.true(existsSync(repoPath(BASE, 'servicemonitor.yaml')), 'the optional ServiceMonitor is there to uncomment');
  const kinds = new Set(baseObjects.map((o) => o.kind));
  for (const kind of ['Namespace', 'Deployment', 'Service', 'PodDisruptionBudget']) t.true(kinds.has(kind), kind);
  t.is(kustomization['namespace'], findObject(baseObjects, 'Namespace').metadata.name);
  t.true((kustomization['images'] as { name: string }[]).some((i) => i.name === container.image));
});

test('k8s base: the config is a ConfigMap directory mount (no subPath) at the --config directory, updated in place', (t) => {
  const kustomization = readYaml(join(BASE, 'kustomization.yaml'));
  const generator = (kustomization['configMapGenerator'] as { name: string; files: string[] }[])[0]!;
  t.true(kustomization['generatorOptions']?.disableNameSuffixHash, 'one ConfigMap name: updates reach running pods and are reloaded');
  const configPath = flagValue(container.args, '--config')!;
  t.is<string | undefined, string | undefined>(configPath, flagValue(cmd, '--config'), 'the same path as the image CMD');
  const volume = (podSpec.volumes as Loose[]).find((v) => v.configMap?.name === generator.name);
  t.truthy(volume, `a volume from ConfigMap ${generator.name}`);
  const mount = (container.volumeMounts as Loose[]).find((m) => m.name === volume.name);
  t.is(mount.mountPath, dirname(configPath));
  t.is(mount.subPath, undefined, 'a subPath mount never sees ConfigMap updates');
  t.true(
    generator.files.some((f) => basename(f.split('=')[0]!) === basename(configPath)),
    `the ConfigMap has the key ${basename(configPath)}`,
  );
});

test('k8s base: container port = Service targetPort = --port in the Deployment args and the Dockerfile CMD', (t) => {
  const service = findObject(baseObjects, 'Service');
  const ports = container.ports as { name?: string; containerPort: number }[];
  t.is(ports.length, 1);
  const target = service.spec.ports[0].targetPort;
  const resolved = typeof target === 'number' ? target : ports.find((p) => p.name === target)?.containerPort;
  t.is(resolved, ports[0]!.containerPort);
  t.is<string | undefined, string | undefined>(String(ports[0]!.containerPort), flagValue(container.args, '--port'));
  t.is<string | undefined, string | undefined>(String(ports[0]!.containerPort), flagValue(cmd, '--port'));
  t.deepEqual(container.args, cmd, 'the Deployment spells out the image CMD');
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    const port = probe.httpGet.port;
    t.is(typeof port === 'number' ? port : ports.find((p) => p.name === port)?.containerPort, ports[0]!.containerPort);
  }
});

test('k8s base: a LoadBalancer Service that keeps client addresses, and a config that then trusts no proxy', (t) => {
  const service = findObject(baseObjects, 'Service');
  t.is(service.spec.type, 'LoadBalancer');
  t.is(service.spec.externalTrafficPolicy, 'Local');
  t.true(selects(service.spec.selector, deployment.spec.template.metadata.labels));
  const config = readYaml(join(BASE, 'config.yaml'));
  t.deepEqual(config['trustedProxies'], [], 'with externalTrafficPolicy: Local the peer is the client');
});

test('k8s base: non-root, read-only root file system, no privilege escalation, no capabilities', (t) => {
  const pod = podSpec.securityContext;
  const ctx = container.securityContext;
  t.true(pod.runAsNonRoot);
  const imageUser = runtime.instructions
    .filter((i) => i.keyword === 'USER')
    .at(-1)!
    .rest.split(':')[0];
  t.is<string | undefined, string | undefined>(String(pod.runAsUser), imageUser, 'the same uid as the image USER');
  t.not(pod.runAsUser, 0);
  t.is(pod.seccompProfile.type, 'RuntimeDefault');
  t.true(ctx.readOnlyRootFilesystem);
  t.false(ctx.allowPrivilegeEscalation);
  t.deepEqual(ctx.capabilities.drop, ['ALL']);
  t.false(podSpec.automountServiceAccountToken);
});

test('k8s base: 2+ replicas spread over nodes and zones, a PDB, resources, a rolling update that keeps capacity', (t) => {
  t.true(deployment.spec.replicas >= 2);
  const podLabels = deployment.spec.template.metadata.labels;
  t.true(selects(deployment.spec.selector.matchLabels, podLabels));
  const keys = (podSpec.topologySpreadConstraints as Loose[]).map((c) => {
    t.true(selects(c.labelSelector.matchLabels, podLabels));
    return c.topologyKey;
  });
  t.deepEqual(keys.sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  const pdb = findObject(baseObjects, 'PodDisruptionBudget');
  t.true(selects(pdb.spec.selector.matchLabels, podLabels));
  t.true(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 1);
  t.truthy(container.resources.requests.cpu);
  t.truthy(container.resources.requests.memory);
  t.truthy(container.resources.limits.memory);
  t.is(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
});

// ---------------------------------------------------------------------------------------------
// Overlays

test('k8s overlays: one per region, each on the base, with a distinct region label, replicas and its own DNS name', (t) => {
  const found = readdirSync(repoPath(OVERLAYS)).sort();
  t.deepEqual(found, REGIONS);
  const regionLabels = new Set<string>();
  const hostnames = new Set<string>();
  for (const region of found) {
    const dir = join(OVERLAYS, region);
    const kustomization = readYaml(join(dir, 'kustomization.yaml'));
    const resources = kustomization['resources'] as string[];
    t.true(
      resources.some((r) => resolve(repoPath(dir), r) === repoPath(BASE)),
      `${region} builds on the base`,
    );
    t.falsy(kustomization['configMapGenerator'], `${region} uses the base's config`);

    const labels = (kustomization['labels'] as { pairs: Record<string, string>; includeTemplates?: boolean; includeSelectors?: boolean }[]).find((l) => l.pairs[REGION_LABEL]);
    t.is(labels?.pairs[REGION_LABEL], region);
    t.true(labels?.includeTemplates, `${region}: the pods carry the region label`);
    t.falsy(labels?.includeSelectors, `${region}: selectors stay the same in every region`);
    regionLabels.add(labels!.pairs[REGION_LABEL]!);

    const replicas = (kustomization['replicas'] as { name: string; count: number }[])[0]!;
    t.is(replicas.name, deployment.metadata.name);
    t.true(replicas.count >= 2);

    for (const patch of kustomization['patches'] as { path: string }[]) {
      const objects = readYamlDocuments(join(dir, patch.path)) as K8sObject[];
      for (const object of objects) {
        t.notThrows(() => findObject(baseObjects, object.kind, object.metadata.name), `${region}/${patch.path} patches a base object`);
        const host = object.metadata.annotations?.['external-dns.alpha.kubernetes.io/hostname'];
        if (host) hostnames.add(host);
      }
    }
  }
  t.is(regionLabels.size, REGIONS.length, 'region labels are distinct');
  t.is(hostnames.size, REGIONS.length, 'each region has its own DNS name');
});

/** kubectl with kustomize v5 (labels.includeTemplates), or why not. */
function kubectlKustomize(): { ok: true } | { ok: false; why: string } {
  const version = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return { ok: false, why: 'kubectl is not installed' };
  const kustomize = (JSON.parse(version.stdout) as { kustomizeVersion?: string }).kustomizeVersion ?? '';
  if (!/^v?([5-9]|\d{2,})\./.test(kustomize)) return { ok: false, why: `kubectl's kustomize is ${kustomize || 'unknown'}, these need v5+ (kubectl 1.27+)` };
  return { ok: true };
}

test('k8s overlays: kubectl kustomize renders each one as expected (where kubectl 1.27+ is installed)', (t) => {
  const kubectl = kubectlKustomize();
  if (!kubectl.ok) {
    t.log(`${kubectl.why}: the overlays were checked by hand only (previous tests)`);
    t.pass();
    return;
  }
  for (const region of REGIONS) {
    const rendered = spawnSync('kubectl', ['kustomize', repoPath(OVERLAYS, region)], { encoding: 'utf8' });
    t.is(rendered.status, 0, rendered.stderr);
    const objects = parseYamlDocuments(`kubectl kustomize ${region}`, rendered.stdout).filter(isK8sObject);
    for (const object of objects) {
      t.is(object.metadata.labels?.[REGION_LABEL], region, `${object.kind} ${object.metadata.name}`);
      if (object.kind !== 'Namespace') t.is(object.metadata.namespace, 'artifact-serving');
    }
    const d = findObject(objects, 'Deployment');
    t.is(d.spec.template.metadata.labels[REGION_LABEL], region);
    t.is(d.spec.selector.matchLabels[REGION_LABEL], undefined);
    t.true(d.spec.replicas >= 2);
    const cm = findObject(objects, 'ConfigMap');
    t.true((d.spec.template.spec.volumes as Loose[]).some((v) => v.configMap?.name === cm.metadata.name));
    for (const [key, text] of Object.entries(cm.data ?? {})) assertValidConfig(`/etc/artifact-serving/${key}`, text);
    t.regex(d.spec.template.spec.containers[0].image, /^[^:]+\/artifact-serving:\S+$/);
  }
});
