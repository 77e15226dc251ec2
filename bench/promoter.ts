// Promoter benchmarks: `npx tsx bench/promoter.ts [--files N] [--skip-copy]`
//  1. Plan time at Kubernetes scale (110 projects, 46k digests, 20 destinations: ~1M edges)
//     against in-memory registry state; targets: < 10 s, < 1 GiB.
//  2. The whole ../shared registry.k8s.io tree with every registry host rewritten to an
//     unreachable loopback address (half refused, half accepting and never answering, with a
//     2 s timeout): seconds to report it all unreachable (target < 60 s), and requests sent.
//  3. Copy throughput of many small files from a staging folder to a production folder and to
//     s3rver, through the real promote(), against `cp -r` of the same files in the same run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createBackends } from '../src/promoter/backends.js';
import type { ImageProject } from '../src/promoter/model.js';
import { emptyObserved, type RepoState } from '../src/promoter/observed.js';
import { plan } from '../src/promoter/plan.js';
import { promote } from '../src/promoter/promote.js';
import { startS3 } from '../test/promoter/s3.js';

const { values } = parseArgs({ options: { files: { type: 'string', default: '2000' }, 'skip-copy': { type: 'boolean', default: false } } });

function digest(i: number): string {
  return `sha256:${createHash('sha256').update(String(i)).digest('hex')}`;
}

function planBench(): void {
  const PROJECTS = 110;
  const DIGESTS = 46_000;
  const DESTS = 20;
  const perProject = Math.ceil(DIGESTS / PROJECTS);
  const projects: ImageProject[] = [];
  const observed = emptyObserved();
  let n = 0;
  for (let p = 0; p < PROJECTS; p++) {
    const name = `k8s-staging-p${p}`;
    const images = Array.from({ length: 8 }, (_, i) => ({ name: `img${i}`, dmap: new Map<string, string[]>(), rollback: new Set<string>() }));
    const staging = new Map<string, RepoState>();
    for (const img of images) staging.set(img.name, { tags: new Map(), digests: new Set() });
    for (let d = 0; d < perProject && n < DIGESTS; d++, n++) {
      const img = images[d % images.length]!;
      const dg = digest(n);
      img.dmap.set(dg, [`v1.${d}.0`, ...(d % 3 === 0 ? [`v1.${d}`] : [])]);
      staging.get(img.name)!.digests.add(dg);
      observed.imageBytes.set(dg, 50_000_000);
    }
    const src = `gcr.io/${name}`;
    // As on registry.k8s.io: every project has its own path in each regional registry.
    const destinations = Array.from({ length: DESTS }, (_, i) => `region-${i}.example/k8s-artifacts-prod/images/${name}`);
    observed.registries.set(src, staging);
    projects.push({ kind: 'images', id: `images/${name}`, project: name, files: [], src, destinations, images });
    // Production: 19 of 20 destinations are up to date, one is missing 10% of each project.
    for (const [di, dest] of destinations.entries()) {
      const byName = new Map<string, RepoState>();
      observed.registries.set(dest, byName);
      for (const img of images) {
        const repo: RepoState = { tags: new Map(), digests: new Set() };
        let k = 0;
        for (const [dg, tags] of img.dmap) {
          if (di === 0 && k++ % 10 === 0) continue;
          repo.digests.add(dg);
          for (const t of tags) repo.tags.set(t, dg);
        }
        byName.set(img.name, repo);
      }
    }
  }
  const edges = projects.reduce((s, p) => s + p.images.reduce((a, i) => a + i.dmap.size, 0) * p.destinations.length, 0);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const result = plan(projects, observed, { prune: false });
  const ms = performance.now() - t0;
  const rss = process.memoryUsage().rss;
  const actions = result.projects.reduce((s, p) => s + p.destinations.reduce((a, d) => a + d.actions.length, 0), 0);
  console.log(`plan: ${PROJECTS} projects, ${n} digests, ${DESTS} destinations = ${edges} edges -> ${actions} actions`);
  console.log(
    `plan: ${(ms / 1000).toFixed(2)} s (target < 10 s: ${ms < 10_000 ? 'ok' : 'MISSED'}); process rss with manifests + observed state + plan ${(rss / 2 ** 20).toFixed(0)} MiB, +${((rss - rssBefore) / 2 ** 20).toFixed(0)} MiB while planning (target < 1024 MiB: ${rss < 2 ** 30 ? 'ok' : 'MISSED'})`,
  );
}

async function copyBench(count: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'promoter-bench-'));
  const s3 = await startS3(['prod']);
  try {
    const staging = join(dir, 'staging', 'k8s-staging-bench');
    const entries: string[] = [];
    for (let i = 0; i < count; i++) {
      const body = createHash('sha256').update(`file ${i}`).digest('hex').repeat(64); // 4 KiB
      const name = `v1/d${i % 20}/file-${i}.txt`;
      await mkdir(join(staging, `v1/d${i % 20}`), { recursive: true });
      await writeFile(join(staging, name), body);
      entries.push(`- name: ${name}\n  sha256: ${createHash('sha256').update(body).digest('hex')}\n`);
    }
    const bytes = count * 4096;
    const time = async (label: string, fn: () => Promise<unknown> | unknown) => {
      const t0 = performance.now();
      await fn();
      const s = (performance.now() - t0) / 1000;
      console.log(`copy ${label}: ${count} files, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${s.toFixed(2)} s = ${(count / s).toFixed(0)} files/s`);
      return s;
    };
    const cp = await time('cp -r', () => execFileSync('cp', ['-r', staging, join(dir, 'cp-copy')]));
    const manifests = async (dest: string, tag: string) => {
      const m = join(dir, `manifests-${tag}`);
      await mkdir(join(m, 'filestores', 'k8s-staging-bench'), { recursive: true });
      await mkdir(join(m, 'manifests', 'k8s-staging-bench'), { recursive: true });
      await writeFile(join(m, 'filestores', 'k8s-staging-bench', 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(staging).href}/\n  src: true\n- base: ${dest}\n`);
      await writeFile(join(m, 'manifests', 'k8s-staging-bench', 'files.yaml'), `files:\n${entries.join('')}`);
      return m;
    };
    const quiet = { stdout: () => undefined, stderr: (s: string) => process.stderr.write(s) };
    const backends = createBackends({ s3: s3.client });
    const run = async (m: string) => {
      const r = await promote({ dir: m, confirm: true, prune: false, parallel: 16 }, backends, quiet);
      if (r.exitCode !== 0) throw new Error('promote failed');
    };
    const mFs = await manifests(`${pathToFileURL(join(dir, 'prod')).href}/`, 'fs');
    const fsS = await time('promote -> folder', () => run(mFs));
    const mS3 = await manifests('s3://prod/bench/', 's3');
    const s3S = await time('promote -> s3rver', () => run(mS3));
    console.log(`ratio vs cp -r: folder ${(fsS / cp).toFixed(1)}x, s3rver ${(s3S / cp).toFixed(1)}x the time (promote also plans, hashes staging and verifies every byte)`);
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Dry run of the real registry.k8s.io manifests with every registry host unreachable. */
async function unreachableBench(): Promise<void> {
  const tree = fileURLToPath(new URL('../../shared/testdata/promoter/k8s.io/registry.k8s.io/', import.meta.url));
  const sockets = new Set<Socket>();
  const silent = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const silentHost = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  const refusedHost = `127.0.0.1:${closedPort}`;
  let requests = 0;
  const counting: typeof fetch = (input, init) => {
    requests++;
    return fetch(input, init);
  };
  const real = createBackends({ fetch: counting, timeouts: { responseMs: 2000, idleMs: 2000 } });
  // Each registry host of the manifests keeps its own name (its own endpoint in the run), and is
  // served by a client of a refused or a silent loopback address, alternately.
  const hosts = new Map<string, string>();
  const backends = {
    store: real.store,
    registry: (host: string) => {
      let to = hosts.get(host);
      if (!to) {
        to = hosts.size % 2 === 0 ? refusedHost : silentHost;
        hosts.set(host, to);
      }
      return real.registry(to);
    },
  };
  let stdout = '';
  const io = {
    stdout: (s: string) => {
      stdout += s;
    },
    stderr: () => undefined,
  };
  const t0 = performance.now();
  try {
    const r = await promote({ dir: tree, confirm: false, prune: false, parallel: 8 }, backends, io);
    const s = (performance.now() - t0) / 1000;
    const items = r.plan.projects.reduce((n, p) => n + p.errors.reduce((m, e) => m + (e.items ?? 0), 0), 0);
    console.log(
      `unreachable: registry.k8s.io tree, ${r.plan.projects.length} projects, ${hosts.size} registry hosts all unreachable, ${items} location items: ${s.toFixed(1)} s, ${requests} requests, exit ${r.exitCode} (target < 60 s: ${s < 60 ? 'ok' : 'MISSED'})`,
    );
    console.log(`unreachable: verdict: ${stdout.trimEnd().split('\n').at(-1)?.slice(0, 200)}`);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
    real.close();
  }
}

planBench();
await unreachableBench();
if (!values['skip-copy']) await copyBench(Number(values.files));
