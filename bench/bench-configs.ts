// The configs, paths, client addresses and mirror stub the redirect benches share: bench/run.ts
// and bench/ab.ts (wrk against the servers), bench/profile.ts (where their CPU goes) and
// bench/decide.ts (the request path in-process, per request).
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SHARED = join(ROOT, '../shared/testdata/cloud-ranges');
/** k8s.io's real promoter manifests: the expected content of issue 9's trust figures. */
export const TRUST_MANIFESTS = join(ROOT, '../shared/testdata/promoter/k8s.io/registry.k8s.io');

/** Two paths per route the bench config serves from its mirrors, requested in turn. */
export const BENCH_PATHS: { readonly binary: readonly string[]; readonly blob: readonly string[] } = {
  binary: ['/binaries/v1.31.0/bin/linux/amd64/kubectl', '/binaries/v1.30.2/bin/linux/arm64/kubelet'],
  blob: [`/v2/kube-apiserver/blobs/sha256:${'ab'.repeat(32)}`, `/v2/pause/blobs/sha256:${'cd'.repeat(32)}`],
};

/** Deterministic spread of public client addresses, so GeoIP and cloud lookups do real work. */
export function clientAddresses(count: number): string[] {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const ips: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 10 === 9) ips.push(`2a0${next() % 9}:${(next() % 0xffff).toString(16)}::${(next() % 0xffff).toString(16)}`);
    else ips.push(`${1 + (next() % 222)}.${next() % 256}.${next() % 256}.${1 + (next() % 254)}`);
  }
  return ips;
}

/** More distinct clients than the server's location memo (65,536) holds: each one is new to it. */
export const ALL_NEW_CLIENTS = 200_000;

/** A `--clients` option's load: `new` (every request a new client) or a number of addresses cycled. */
export function clientsOption(option: string): string[] | { distinct: number } {
  return option === 'new' ? { distinct: ALL_NEW_CLIENTS } : clientAddresses(Number(option));
}

/**
 * `count` distinct public IPv4 addresses, a fixed stride apart: the addresses of bench/wrk.ts's
 * `distinct` load (the same formula, in Lua there), every one new to the server's location memo.
 * clientAddresses' generator repeats (about 20,000 distinct in 250,000), so it cannot stand in.
 */
export function distinctClientAddresses(count: number): string[] {
  const ips: string[] = [];
  for (let n = 0; n < count; n++) {
    const k = (n * 7919) % 16_000_000;
    ips.push(`${11 + Math.floor(k / 65536)}.${Math.floor(k / 256) % 256}.${k % 256}.7`);
  }
  return ips;
}

/**
 * Mirrors that hold everything: a local server answering every HEAD (and GET) with 200. A tag
 * named in `tagDigests` (by the path after /v2/<mirror repository>/) answers with its promoted
 * Docker-Content-Digest, as a registry does: routing by proof then finds the tag where it belongs.
 */
export async function startMirrorStub(tagDigests: ReadonlyMap<string, string> = new Map()): Promise<{ port: number; close(): void }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const digest = tagDigests.get((req.url ?? '').split('/').slice(3).join('/'));
    res.writeHead(200, { 'Content-Length': '0', ...(digest && { 'Docker-Content-Digest': digest }) }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() };
}

export function benchConfig(mirrorPort: number): string {
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

/**
 * Issue 9: the same checked OCI route with and without expected content from k8s.io's real image
 * manifests (tags and digests of real images); both with origin and availability checks.
 */
export async function trustConfigs(mirrorPort: number, manifests: string): Promise<{ plain: string; trusted: string }> {
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
