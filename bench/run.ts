// `npm run bench`: the redirect hot path against baselines measured in the same run, on the
// same machine, with the same load generator: a raw node:http server answering a fixed 302,
// and nginx `return 302` when nginx is installed. Prints requests/s, p50/p99 and ratios.
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/peers.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SHARED = join(ROOT, '../shared/testdata/cloud-ranges');
const DURATION_S = Number(process.env.BENCH_DURATION ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors and answers other than redirects. */
  errors: number;
  /** Requests autocannon gave up on; with a very long request list it reports a few for any server (the raw baseline too). */
  timeouts: number;
  non3xx: number;
}

/** Deterministic spread of public client addresses, so GeoIP and cloud lookups do real work. */
function clientAddresses(count: number): string[] {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const ips: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 10 === 9) ips.push(`2a0${next() % 9}:${(next() % 0xffff).toString(16)}::${(next() % 0xffff).toString(16)}`);
    else ips.push(`${1 + (next() % 222)}.${next() % 256}.${next() % 256}.${1 + (next() % 254)}`);
  }
  return ips;
}

/**
 * Mirrors that hold everything: a local server answering every HEAD (and GET) with 200. A tag
 * named in `tagDigests` (by the path after /v2/<mirror repository>/) answers with its promoted
 * Docker-Content-Digest, as a registry does: routing by proof then finds the tag where it belongs.
 */
async function startMirrorStub(tagDigests: ReadonlyMap<string, string> = new Map()): Promise<{ port: number; close(): void }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const digest = tagDigests.get((req.url ?? '').split('/').slice(3).join('/'));
    res.writeHead(200, { 'Content-Length': '0', ...(digest && { 'Docker-Content-Digest': digest }) }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() };
}

function benchConfig(mirrorPort: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-bench-'));
  const hasRanges = existsSync(join(SHARED, 'aws-ip-ranges.json'));
  const file = join(dir, 'bench.yaml');
  writeFileSync(
    file,
    `trustedProxies: [127.0.0.1/32]
${hasRanges ? `cloudRanges:\n  aws: ${join(SHARED, 'aws-ip-ranges.json')}\n  gcp: ${join(SHARED, 'gcp-cloud.json')}\n` : ''}
mirrors:
  eu-files: { url: https://eu.files.example/prod }
  us-files: { url: https://us.files.example/prod }
  asia-files: { url: https://asia.files.example/prod }
  eu-reg: { registry: https://eu.registry.example, repository: prod/images, probe: false }
  us-reg: { registry: https://us.registry.example, repository: prod/images, probe: false }
  asia-reg: { registry: https://asia.registry.example, repository: prod/images, probe: false }
  eu-checked: { url: http://127.0.0.1:${mirrorPort}/eu }
  us-checked: { url: http://127.0.0.1:${mirrorPort}/us }
  origin: { url: http://127.0.0.1:${mirrorPort}/origin }
routes:
  # With an origin: every redirect to a mirror is backed by a (cached) availability check.
  - prefix: /checked
    regions: { Europe: [eu-checked, us-checked], Americas: us-checked }
    default: us-checked
    origin: origin
  - prefix: /binaries
    regions: { Europe: eu-files, Americas: us-files, Asia: [asia-files, us-files], DE: eu-files${hasRanges ? ', "aws:*": us-files, "gcp:europe-west1": eu-files' : ''} }
    default: us-files
  - prefix: /v2/
    regions: { Europe: eu-reg, Americas: us-reg, Asia: asia-reg }
    default: us-reg
`,
  );
  return file;
}

async function startProcess(command: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve({ child, port: Number(match[1]) });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}:\n${output}`)));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Requests cycling through paths x client addresses; the same list is sent to every server. */
function requestList(paths: string[], ips: string[] | 'all-new'): autocannon.Request[] {
  if (ips === 'all-new') {
    // A fresh address for every request (autocannon copies a request list per connection, so a
    // list longer than the memo would cost gigabytes): generated as each request is sent.
    let n = 0;
    return [
      {
        method: 'GET' as const,
        path: paths[0]!,
        setupRequest: (request: autocannon.Request) => {
          n = (n + 7919) % 16_000_000;
          return { ...request, headers: { 'x-forwarded-for': `${11 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}.7` } };
        },
      },
    ];
  }
  return ips.map((ip, i) => ({ method: 'GET' as const, path: paths[i % paths.length]!, headers: { 'x-forwarded-for': ip } }));
}

async function load(name: string, port: number, paths: string[], ips: string[] | 'all-new'): Promise<Result> {
  const requests = requestList(paths, ips);
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, duration: DURATION_S, requests });
  const non3xx = result.non2xx - (result['3xx'] ?? 0);
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors - result.timeouts, timeouts: result.timeouts, non3xx };
}

async function warm(port: number, paths: string[], ips: string[] | 'all-new'): Promise<void> {
  const requests = requestList(paths, ips);
  await autocannon({ url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, duration: 1, requests });
}

function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v']).status === 0;
}

async function startNginx(): Promise<{ child: ChildProcess; port: number } | undefined> {
  if (!nginxAvailable()) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-bench-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${port}; location / { return 302 https://mirror.example/file; } }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
      return { child, port };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await stopProcess(child);
  return undefined;
}

function printTable(results: Result[], baseline: Result): void {
  console.log(`\n${'server'.padEnd(58)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} errors timeouts`);
  for (const r of results) {
    console.log(`${r.name.padEnd(58)} ${r.rps.toFixed(0).padStart(9)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.errors + r.non3xx).padStart(6)} ${String(r.timeouts).padStart(8)}`);
  }
  console.log('');
  for (const r of results) {
    if (r === baseline) continue;
    console.log(`ratio ${r.name} / ${baseline.name}: ${(r.rps / baseline.rps).toFixed(2)}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Target {
  name: string;
  port: number;
  paths: string[];
  /** Client addresses for this target; the shared list unless given. */
  ips?: string[] | 'all-new';
}

/**
 * Issue 9: the same checked OCI route with and without expected content from k8s.io's real image
 * manifests (tags and digests of real images); both with origin and availability checks.
 */
async function trustConfigs(mirrorPort: number, manifests: string): Promise<{ plain: string; trusted: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-bench-trust-'));
  const body = `trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: http://127.0.0.1:${mirrorPort}, repository: eu, probe: false }
  us-reg: { registry: http://127.0.0.1:${mirrorPort}, repository: us, probe: false }
  origin-reg: { registry: http://127.0.0.1:${mirrorPort}, repository: origin, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: [eu-reg, us-reg], Americas: us-reg }
    default: us-reg
    origin: origin-reg
`;
  const plain = join(dir, 'plain.yaml');
  const trusted = join(dir, 'trusted.yaml');
  writeFileSync(plain, body);
  writeFileSync(trusted, `${body}trust:\n  expected:\n    - { route: /v2/, manifests: ${manifests}, root: k8s-artifacts-prod/images }\n`);
  return { plain, trusted };
}

async function main(): Promise<void> {
  const ips = clientAddresses(2000);
  const trustManifests = join(ROOT, '../shared/testdata/promoter/k8s.io/registry.k8s.io');
  // Real tags of real images: the promoted digest each must point at, and its by-digest path.
  const trustPaths: string[] = [];
  const tagDigests = new Map<string, string>();
  if (existsSync(trustManifests)) {
    const { loadExpected } = await import('../src/trust/expected.js');
    const { loadConfigFile } = await import('../src/config/load.js');
    const probe = await trustConfigs(1, trustManifests);
    const loaded = loadConfigFile(probe.trusted);
    const expected = loaded.ok ? await loadExpected(loaded.config.trust) : undefined;
    const images = expected?.ok ? [...expected.expected.route('/v2')!.images].filter(([, i]) => i.tags.size > 0).slice(0, 4) : [];
    for (const [name, image] of images) {
      const [tag, digest] = [...image.tags][0]!;
      tagDigests.set(`${name}/manifests/${tag}`, digest);
      trustPaths.push(`/v2/${name}/manifests/${tag}`, `/v2/${name}/manifests/${digest}`);
    }
  }
  const binaryPaths = ['/binaries/v1.31.0/bin/linux/amd64/kubectl', '/binaries/v1.30.2/bin/linux/arm64/kubelet'];
  const blobPaths = [`/v2/kube-apiserver/blobs/sha256:${'ab'.repeat(32)}`, `/v2/pause/blobs/sha256:${'cd'.repeat(32)}`];
  const mirrorStub = await startMirrorStub(tagDigests);
  const config = benchConfig(mirrorStub.port);
  const checkedPaths = binaryPaths.map((p) => p.replace('/binaries', '/checked'));
  console.log(`bench: ${ROUNDS} interleaved rounds of ${DURATION_S}s per server, ${CONNECTIONS} connections, ${ips.length} client addresses (IPv4 and IPv6), node ${process.version}`);

  const children: ChildProcess[] = [];
  const targets: Target[] = [];
  const raw = await startProcess(process.execPath, ['--import', 'tsx', 'bench/raw-302-server.ts'], /listening (\d+)/);
  children.push(raw.child);
  targets.push({ name: 'raw node:http fixed 302', port: raw.port, paths: binaryPaths });
  const nginx = await startNginx();
  if (nginx) {
    children.push(nginx.child);
    targets.push({ name: 'nginx return 302', port: nginx.port, paths: binaryPaths });
  } else {
    console.log('nginx not installed: no nginx baseline in this run');
  }
  for (const [label, accessLog] of [
    ['access log on', '/dev/null'],
    ['access log off', 'off'],
  ] as const) {
    const server = await startProcess(
      process.execPath,
      // The built server, as production runs it (tsx adds per-closure overhead of its own).
      ['dist/cli.js', 'serve', '--config', config, '--port', '0', '--host', '127.0.0.1', '--no-watch', '--access-log', accessLog],
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    children.push(server.child);
    targets.push({ name: `redirector binary route (${label})`, port: server.port, paths: binaryPaths });
    targets.push({ name: `redirector blob route (${label})`, port: server.port, paths: blobPaths });
    if (accessLog === 'off') targets.push({ name: `redirector failover path, warm cache (${label})`, port: server.port, paths: checkedPaths });
    // More distinct clients than the location memo holds: every request pays for GeoIP and cloud lookups.
    if (accessLog === '/dev/null') targets.push({ name: `redirector binary route, all-new clients (${label})`, port: server.port, paths: binaryPaths, ips: 'all-new' });
  }
  if (trustPaths.length > 0) {
    const configs = await trustConfigs(mirrorStub.port, trustManifests);
    for (const [label, file] of [
      ['plain', configs.plain],
      ['expected content loaded', configs.trusted],
    ] as const) {
      const server = await startProcess(
        process.execPath,
        ['dist/cli.js', 'serve', '--config', file, '--port', '0', '--host', '127.0.0.1', '--no-watch', '--access-log', 'off'],
        /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      );
      children.push(server.child);
      targets.push({ name: `redirector checked OCI tags and digests (${label})`, port: server.port, paths: trustPaths });
    }
  } else {
    console.log('../shared/testdata not found: no expected-content (trust) targets in this run');
  }
  if (process.env.BENCH_ONLY) targets.splice(0, targets.length, ...targets.filter((t, i) => i === 0 || t.name.includes(process.env.BENCH_ONLY!)));
  try {
    for (const target of targets) await warm(target.port, target.paths, target.ips ?? ips);
    // Interleaved rounds, medians: a busy neighbour slows every server alike instead of one.
    const runs = new Map<string, Result[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const result = await load(target.name, target.port, target.paths, target.ips ?? ips);
        runs.set(target.name, [...(runs.get(target.name) ?? []), result]);
      }
    }
    const results = targets.map((target) => {
      const list = runs.get(target.name)!;
      return {
        name: target.name,
        rps: median(list.map((r) => r.rps)),
        p50: median(list.map((r) => r.p50)),
        p99: median(list.map((r) => r.p99)),
        errors: list.reduce((sum, r) => sum + r.errors, 0),
        timeouts: list.reduce((sum, r) => sum + r.timeouts, 0),
        non3xx: list.reduce((sum, r) => sum + r.non3xx, 0),
      };
    });
    printTable(results, results[0]!);
    const plain = results.find((r) => r.name === 'redirector binary route (access log off)');
    const failover = results.find((r) => r.name.startsWith('redirector failover path'));
    if (plain && failover) console.log(`ratio failover path (warm availability cache) / plain redirect path: ${(failover.rps / plain.rps).toFixed(2)}`);
    const untrusted = results.find((r) => r.name === 'redirector checked OCI tags and digests (plain)');
    const trusted = results.find((r) => r.name === 'redirector checked OCI tags and digests (expected content loaded)');
    if (untrusted && trusted) console.log(`ratio checked OCI path with expected content (k8s.io's manifests) / without: ${(trusted.rps / untrusted.rps).toFixed(2)}`);
  } finally {
    for (const child of children) await stopProcess(child);
    mirrorStub.close();
  }
}

await main();
