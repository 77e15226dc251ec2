// client-config's files and errors (the files are used by real clients in
// test/e2e/client-config.test.ts and test/e2e/docker.test.ts).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { tempDir } from '../helpers/temp-dir.js';

const CONFIG = `
registry:
  namespaces: [registry.k8s.io]
mirrors:
  us: { registry: https://us.example }
routes:
  - prefix: /v2/
    default: us
dns:
  name: artifacts.example
redirectors:
  europe:   { host: europe.artifacts.example,   addresses: [192.0.2.10], regions: [Europe] }
  americas: { host: americas.artifacts.example, addresses: [192.0.2.20], default: true }
`;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['client-config', ...args], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('containerd: a hosts.toml per registry, the GeoDNS name first, the registry as server', async (t) => {
  const result = await run(['--config', writeConfig(CONFIG), '--for', 'containerd']);
  t.is(result.code, 0, result.err);
  t.is(
    result.out,
    '# /etc/containerd/certs.d/registry.k8s.io/hosts.toml\n' +
      '# registry.k8s.io: pulled through the redirector, from the registry itself when it cannot answer\n' +
      'server = "https://registry.k8s.io"\n\n[host."https://artifacts.example"]\n  capabilities = ["pull", "resolve"]\n',
  );
});

test('--region uses the regional name; --out writes the files under a directory', async (t) => {
  const out = tempDir('client-config-unit-');
  const result = await run(['--config', writeConfig(CONFIG), '--for', 'cri-o', '--region', 'europe', '--out', out]);
  t.is(result.code, 0, result.err);
  const conf = readFileSync(join(out, 'etc/containers/registries.conf.d/50-artifact-serving.conf'), 'utf8');
  t.regex(conf, /\[\[registry\]\]\nprefix = "registry\.k8s\.io"\nlocation = "registry\.k8s\.io"\n\n\[\[registry\.mirror\]\]\nlocation = "europe\.artifacts\.example"\n/);
  t.notRegex(conf, /insecure/);
  t.regex(result.err, /wrote .*50-artifact-serving\.conf/);
});

test('docker: daemon.json with registry-mirrors, insecure only for plain HTTP off loopback, and a note for non-Hub registries', async (t) => {
  const file = writeConfig(CONFIG);
  const https = await run(['--config', file, '--for', 'docker']);
  t.deepEqual(JSON.parse(https.out), { 'registry-mirrors': ['https://artifacts.example'] }, 'stdout is the file itself');
  t.regex(https.err, /^# \/etc\/docker\/daemon\.json \(merge into an existing one\)$/m);
  t.regex(https.err, /Docker uses registry-mirrors for Docker Hub \(docker\.io\) images only/);
  const hub = await run(['--config', file, '--for', 'docker', '--registry', 'docker.io', '--url', 'http://10.0.0.5:8080']);
  t.deepEqual(JSON.parse(hub.out), { 'registry-mirrors': ['http://10.0.0.5:8080'], 'insecure-registries': ['10.0.0.5:8080'] });
  t.notRegex(hub.err, /note:/);
  const loopback = await run(['--config', file, '--for', 'docker', '--url', 'http://127.0.0.1:8080']);
  t.deepEqual(JSON.parse(loopback.out), { 'registry-mirrors': ['http://127.0.0.1:8080'] });
});

test('plain-HTTP registries and mirrors are marked insecure for containers-registries.conf', async (t) => {
  const result = await run(['--config', writeConfig(CONFIG), '--for', 'cri-o', '--url', 'http://127.0.0.1:8080', '--registry', 'http://127.0.0.1:5000']);
  t.regex(result.out, /prefix = "127\.0\.0\.1:5000"\nlocation = "127\.0\.0\.1:5000"\ninsecure = true\n\n\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:8080"\ninsecure = true\n/);
});

test('clear errors', async (t) => {
  const file = writeConfig(CONFIG);
  const cases: [string[], number, RegExp][] = [
    [['--config', file], 2, /client-config needs --config and --for/],
    [['--config', file, '--for', 'rkt'], 2, /"rkt" is not one of containerd, cri-o, docker/],
    [['--config', file, '--for', 'docker', '--region', 'asia'], 2, /no redirector "asia" in .* \(there are: europe, americas\)/],
    [['--config', file, '--for', 'docker', '--url', 'http://x.example/path'], 2, /--url: "http:\/\/x\.example\/path" is not an http\(s\) URL of a host/],
    [['--config', file, '--for', 'docker', '--registry', 'ftp://x'], 2, /--registry: "ftp:\/\/x" is neither/],
    [['--config', file, '--for', 'docker', '--region', 'europe', '--url', 'http://a.example'], 2, /give one of them/],
    [['--config', writeConfig(CONFIG.replace(/dns:[\s\S]*/, '')), '--for', 'docker'], 1, /no dns: section to name the redirector: add one, or give --url/],
    [['--config', writeConfig(CONFIG.replace('namespaces: [registry.k8s.io]', 'namespaces: []')), '--for', 'containerd'], 1, /no registry to mirror/],
  ];
  for (const [args, code, message] of cases) {
    const result = await run(args);
    t.is(result.code, code, args.join(' '));
    t.regex(result.err, message);
  }
  t.regex((await run(['--help'])).out, /^Usage: artifact-serving client-config/);
});
