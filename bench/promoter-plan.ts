// Planning at registry.k8s.io scale (issue 8): `npx tsx bench/promoter-plan.ts [--dests N] [--parallel N]`.
// k8s-staging-kubernetes as in ../shared (42 images, 9,990 digests with their tags, 40
// destinations) is planned by the real CLI (`promote DIR`, a dry run, in a child process whose
// peak RSS is read) against fake registries on loopback (test/promoter/memory-registry-http.ts):
// one for staging and one per destination, each its own endpoint. Twice: every destination
// empty, then every destination fully populated with this promoter's ledger. Prints wall time,
// requests by kind and peak RSS for each; targets < 30 s and < 1 GiB.
// The digests are replaced by those of small generated image manifests (the fake must serve
// content that hashes to its digest); names, tags and counts are the real ones.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sha256Digest } from '../src/oci/client.js';
import { emptyLedger, serialiseLedger } from '../src/promoter/ledger.js';
import { loadManifests } from '../src/promoter/load.js';
import type { ImageProject } from '../src/promoter/model.js';
import { LEDGER_REPO } from '../src/promoter/registry-ledger.js';
import { MemoryRegistry } from '../test/promoter/memory-registry.js';
import { serveOverHttp, type HttpRegistry } from '../test/promoter/memory-registry-http.js';

const { values } = parseArgs({ options: { dests: { type: 'string', default: '40' }, parallel: { type: 'string', default: '8' } } });
const PROJECT = 'k8s-staging-kubernetes';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TREE = join(ROOT, '../shared/testdata/promoter/k8s.io/registry.k8s.io');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const LEDGER_TYPE = 'application/vnd.artifact-serving.ledger.v1+json';

const loaded = await loadManifests(TREE, PROJECT);
const real = loaded.projects[0] as ImageProject | undefined;
if (real?.kind !== 'images') throw new Error(`${PROJECT} not found in ${TREE}`);
const destCount = Math.min(Number(values.dests), real.destinations.length);

// Staging: one small image manifest per digest of the manifest, tagged as the manifest says.
const staging = new MemoryRegistry('staging');
const images: { name: string; dmap: Map<string, string[]> }[] = [];
let n = 0;
for (const image of real.images) {
  const dmap = new Map<string, string[]>();
  const repo = `${PROJECT}/${image.name}`;
  for (const tags of image.dmap.values()) {
    const blob = (i: number) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Digest(`${n} ${i}`), size: 30_000_000 + i });
    const d = staging.addManifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...blob(0), mediaType: 'application/vnd.oci.image.config.v1+json', size: 1500 }, layers: [blob(1), blob(2)] }, tags);
    dmap.set(d.digest, tags);
    n++;
  }
  images.push({ name: image.name, dmap });
}
const digests = images.reduce((s, i) => s + i.dmap.size, 0);

async function scenario(label: 'empty' | 'populated'): Promise<void> {
  const servers: HttpRegistry[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'promoter-plan-bench-'));
  try {
    const src = await serveOverHttp(staging);
    servers.push(src);
    const dests: string[] = [];
    for (let i = 0; i < destCount; i++) {
      const reg = new MemoryRegistry(`dest-${i}`);
      const server = await serveOverHttp(reg);
      servers.push(server);
      const dest = `${server.host}/k8s-artifacts-prod/images`;
      dests.push(dest);
      if (label === 'empty') continue;
      // Populated as a finished run leaves it: every image and tag, and the ledger saying so.
      const ledger = emptyLedger();
      for (const image of images) {
        reg.repos.set(`k8s-artifacts-prod/images/${image.name}`, staging.repos.get(`${PROJECT}/${image.name}`) as never);
        const tags = new Map<string, string>();
        for (const [d, ts] of image.dmap) for (const t of ts) tags.set(t, d);
        ledger.images.set(image.name, { digests: new Set(image.dmap.keys()), tags });
      }
      const layer = reg.addBlob(`k8s-artifacts-prod/images/${LEDGER_REPO}`, Buffer.from(serialiseLedger(ledger, PROJECT, dest)), LEDGER_TYPE);
      const config = reg.addBlob(`k8s-artifacts-prod/images/${LEDGER_REPO}`, Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
      reg.addManifest(`k8s-artifacts-prod/images/${LEDGER_REPO}`, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: LEDGER_TYPE, config, layers: [layer] }, [`images--${PROJECT}`]);
    }
    await mkdir(join(dir, 'manifests', PROJECT), { recursive: true });
    await mkdir(join(dir, 'images', PROJECT), { recursive: true });
    await writeFile(join(dir, 'manifests', PROJECT, 'promoter-manifest.yaml'), `registries:\n- name: ${src.host}/${PROJECT}\n  src: true\n${dests.map((d) => `- name: ${d}\n`).join('')}`);
    await writeFile(
      join(dir, 'images', PROJECT, 'images.yaml'),
      images.map((i) => `- name: ${i.name}\n  dmap:\n${[...i.dmap].map(([d, tags]) => `    "${d}": [${tags.map((t) => `"${t}"`).join(', ')}]\n`).join('')}`).join(''),
    );
    const t0 = performance.now();
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
      const child = execFile(
        process.execPath,
        [...(process.env.PLAN_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof-d'] : []), '--import', 'tsx', join(ROOT, 'test/promoter/max-rss.ts'), 'promote', dir, '--parallel', String(values.parallel)],
        { cwd: ROOT, maxBuffer: 256 * 2 ** 20 },
        (error, out, err) => resolve({ stdout: out, stderr: err, code: error ? ((error as { code?: number }).code ?? 1) : 0 }),
      );
      child.stdin?.end();
    });
    const s = (performance.now() - t0) / 1000;
    const cpuS = Number(/cpu-ms (\d+)/.exec(stderr)?.[1] ?? Number.NaN) / 1000;
    const rssMiB = Number(/max-rss-kib (\d+)/.exec(stderr)?.[1] ?? Number.NaN) / 1024;
    const byKind = new Map<string, number>();
    for (const srv of servers) for (const [k, v] of srv.requests) byKind.set(`${srv === src ? 'staging' : 'dest'} ${k}`, (byKind.get(`${srv === src ? 'staging' : 'dest'} ${k}`) ?? 0) + v);
    const total = [...byKind.values()].reduce((a, b) => a + b, 0);
    const kinds = [...byKind]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `plan ${PROJECT} (${images.length} images, ${digests} digests) -> ${destCount} destinations, ${label}: ${s.toFixed(1)} s (CPU ${cpuS.toFixed(1)} s), ${total} requests (${kinds}), peak RSS ${rssMiB.toFixed(0)} MiB, exit ${code} (targets < 30 s: ${s < 30 ? 'ok' : 'MISSED'}, < 1024 MiB: ${rssMiB < 1024 ? 'ok' : 'MISSED'})`,
    );
    console.log(`plan ${label}: verdict: ${stdout.trimEnd().split('\n').at(-1)?.slice(0, 160)}`);
    if (code !== 0 && label === 'populated') process.stderr.write(stderr.slice(0, 2000));
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

if (!process.env.PLAN_BENCH_ONLY_POPULATED) await scenario('empty');
await scenario('populated');
