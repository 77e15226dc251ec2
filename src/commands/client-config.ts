// `client-config`: the files that make a container runtime pull through the redirector, with
// the canonical registry as its fallback: containerd's hosts.toml, the containers-registries.conf
// drop-in read by CRI-O, podman, buildah and skopeo, and Docker's daemon.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { isPlainHttpUrl } from '../config/schema.js';
import { formatProblem } from '../config/yaml-source.js';
import type { CliIO } from './io.js';

const CLIENTS = ['containerd', 'cri-o', 'docker'] as const;
export type Client = (typeof CLIENTS)[number];

const HELP = `Usage: artifact-serving client-config --config FILE --for containerd|cri-o|docker [options]

Writes the files that make a container runtime pull through the redirector, falling back to
the canonical registry when the redirector cannot answer:

  containerd  /etc/containerd/certs.d/<registry>/hosts.toml, one per registry
  cri-o       /etc/containers/registries.conf.d/50-artifact-serving.conf (also podman, skopeo, buildah)
  docker      /etc/docker/daemon.json with registry-mirrors (Docker mirrors docker.io only)

The redirector is https://<dns.name>, or with --region R the regional redirector R's own name.
The registries are the config's registry.namespaces (the names it answers for as a mirror).

Options:
  --config FILE      redirector config (required)
  --for CLIENT       containerd, cri-o or docker (required)
  --region R         use redirector R's regional name instead of the GeoDNS name
  --url URL          the redirector's URL, e.g. http://127.0.0.1:8080 (instead of the names above)
  --registry R       a registry to mirror: a name (registry.k8s.io, served over https) or a URL
                     (http://127.0.0.1:5000); repeatable; instead of registry.namespaces
  --out DIR          write the files under DIR (DIR/etc/...; --out / installs them) instead of
                     printing them
`;

export interface ClientFile {
  /** Absolute path on the client machine. */
  path: string;
  content: string;
}

interface Registry {
  /** As clients name it: host[:port]. */
  name: string;
  /** Where the canonical registry is. */
  url: string;
}

export function clientConfigCommand(args: string[], io: CliIO): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      for: { type: 'string' },
      region: { type: 'string' },
      url: { type: 'string' },
      registry: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (!values.config || !values.for || positionals.length > 0) {
    io.stderr(`client-config needs --config and --for, and no other arguments\n\n${HELP}`);
    return 2;
  }
  const client = values.for as Client;
  if (!CLIENTS.includes(client)) {
    io.stderr(`--for: "${values.for}" is not one of ${CLIENTS.join(', ')}\n`);
    return 2;
  }
  if (values.url && values.region) {
    io.stderr('--url and --region: give one of them\n');
    return 2;
  }
  const loaded = loadConfigFile(values.config);
  if (!loaded.ok) {
    io.stderr(`${loaded.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  const config = loaded.config;

  let redirector: URL;
  if (values.url) {
    if (!isPlainHttpUrl(values.url) || new URL(values.url).pathname !== '/') {
      io.stderr(`--url: "${values.url}" is not an http(s) URL of a host (no path, query or credentials)\n`);
      return 2;
    }
    redirector = new URL(values.url);
  } else if (!config.geoDns) {
    io.stderr(`${values.config}: no dns: section to name the redirector: add one, or give --url\n`);
    return 1;
  } else if (values.region) {
    const regional = config.geoDns.redirectors.find((r) => r.name === values.region);
    if (!regional) {
      io.stderr(`--region: no redirector "${values.region}" in ${values.config} (there are: ${config.geoDns.redirectors.map((r) => r.name).join(', ')})\n`);
      return 2;
    }
    redirector = new URL(`https://${regional.host}`);
  } else {
    redirector = new URL(`https://${config.geoDns.name}`);
  }

  const registries: Registry[] = [];
  for (const spec of values.registry.length > 0 ? values.registry : [...config.namespaces]) {
    const registry = parseRegistry(spec);
    if (!registry) {
      io.stderr(`--registry: "${spec}" is neither a registry name (host[:port]) nor an http(s) URL of one\n`);
      return 2;
    }
    registries.push(registry);
  }
  if (registries.length === 0) {
    io.stderr(`${values.config}: no registry to mirror: list it under registry.namespaces, or give --registry\n`);
    return 1;
  }

  const files = clientFiles(client, redirector, registries);
  if (client === 'docker' && !registries.some((r) => r.name === 'docker.io')) {
    io.stderr(
      `note: Docker uses registry-mirrors for Docker Hub (docker.io) images only; the redirector must route those names (library/...).\n` +
        `      For ${registries.map((r) => r.name).join(', ')}, pull by the redirector's own name: docker pull ${redirector.host}/NAME:TAG\n`,
    );
  }
  if (values.out) {
    for (const file of files) {
      const target = join(values.out, file.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, file.content);
      io.stderr(`wrote ${target}\n`);
    }
  } else {
    // TOML takes comments, so each file is headed by its path; JSON does not, so daemon.json is
    // printed bare (redirecting stdout into the file must give Docker a file it can read).
    for (const [i, f] of files.entries()) {
      if (f.path.endsWith('.json')) {
        io.stderr(`# ${f.path} (merge into an existing one)\n`);
        io.stdout(f.content);
      } else {
        io.stdout(`${i > 0 ? '\n' : ''}# ${f.path}\n${f.content}`);
      }
    }
  }
  return 0;
}

function parseRegistry(spec: string): Registry | undefined {
  if (/^https?:\/\//.test(spec)) {
    if (!isPlainHttpUrl(spec)) return undefined;
    const url = new URL(spec);
    if (url.pathname !== '/') return undefined;
    return { name: url.host, url: `${url.protocol}//${url.host}` };
  }
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i.test(spec)) return undefined;
  // Docker Hub's registry API is not at its name.
  return { name: spec, url: spec === 'docker.io' ? 'https://registry-1.docker.io' : `https://${spec}` };
}

const isLoopback = (host: string) => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(host);

function clientFiles(client: Client, redirector: URL, registries: readonly Registry[]): ClientFile[] {
  const origin = `${redirector.protocol}//${redirector.host}`;
  const plainHttp = redirector.protocol === 'http:';
  switch (client) {
    case 'containerd':
      // containerd tries each host in order and then the server; it adds ?ns=<registry> to
      // mirror requests, which the redirector checks against registry.namespaces.
      return registries.map((r) => ({
        path: `/etc/containerd/certs.d/${r.name}/hosts.toml`,
        content: `# ${r.name}: pulled through the redirector, from the registry itself when it cannot answer\nserver = "${r.url}"\n\n[host."${origin}"]\n  capabilities = ["pull", "resolve"]\n`,
      }));
    case 'cri-o':
      return [
        {
          path: '/etc/containers/registries.conf.d/50-artifact-serving.conf',
          content:
            `# Pull through the redirector; the registry itself is tried when the mirror fails.\n` +
            registries
              .map(
                (r) =>
                  `[[registry]]\nprefix = "${r.name}"\nlocation = "${r.name}"\n${r.url.startsWith('http:') ? 'insecure = true\n' : ''}` +
                  `\n[[registry.mirror]]\nlocation = "${redirector.host}"\n${plainHttp ? 'insecure = true\n' : ''}`,
              )
              .join('\n'),
        },
      ];
    case 'docker': {
      // Docker talks plain HTTP to loopback registries by default; any other http:// mirror
      // must be listed as insecure too.
      const daemon: Record<string, string[]> = { 'registry-mirrors': [origin] };
      if (plainHttp && !isLoopback(redirector.hostname)) daemon['insecure-registries'] = [redirector.host];
      return [{ path: '/etc/docker/daemon.json', content: `${JSON.stringify(daemon, null, 2)}\n` }];
    }
  }
}
