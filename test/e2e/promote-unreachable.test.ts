// Issue 8: a location no connection can be made to is marked unreachable once per run; its other
// items are not tried, and the verdict says what could not be checked (never "Nothing to do").
// Real-shaped kpromo manifests (several projects, regional destinations per project, a files
// project on gs://) point at a loopback port that was bound and closed (refused) and at a
// listener that accepts and never answers (--timeout). Requests are counted, not wall time.
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { tree } from '../promoter/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { refusedPort } from '../helpers/peers.js';

const RETRY = { attempts: 3, baseMs: 1, maxMs: 2 };
const PARALLEL = 4;
const PROJECTS = ['k8s-staging-a', 'k8s-staging-b', 'k8s-staging-c'];
const DIGESTS = 40;

/** Accepts connections and never answers; counts them. */
async function silent(): Promise<{ host: string; connections: () => number; stop: () => void }> {
  const sockets = new Set<Socket>();
  let n = 0;
  const server = createServer((s) => {
    n++;
    sockets.add(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => n,
    stop: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function digest(p: string, i: number): string {
  return `sha256:${createHash('sha256').update(`${p} ${i}`).digest('hex')}`;
}

const unreachable = test.macro(async (t, confirm: boolean) => {
  const refused = `127.0.0.1:${await refusedPort()}`;
  const hung = await silent();
  t.teardown(hung.stop);
  const gcs = `127.0.0.1:${await refusedPort()}`;
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  for (const p of PROJECTS) {
    await mkdir(join(dir, 'registry', 'manifests', p), { recursive: true });
    await mkdir(join(dir, 'registry', 'images', p), { recursive: true });
    // As on registry.k8s.io: staging on one host, the project's path in several regional registries.
    const dests = ['us', 'eu', 'asia'].flatMap((r) => [`${refused}/${r}/k8s-artifacts-prod/images/${p}`, `${hung.host}/${r}/k8s-artifacts-prod/images/${p}`]);
    await writeFile(join(dir, 'registry', 'manifests', p, 'promoter-manifest.yaml'), `registries:\n- name: ${refused}/${p}\n  src: true\n${dests.map((d) => `- name: ${d}\n`).join('')}`);
    const images = Array.from({ length: 4 }, (_, img) => {
      const lines = Array.from({ length: DIGESTS / 4 }, (_, i) => `    "${digest(p, img * 100 + i)}": ["v1.${i}.0"]\n`);
      return `- name: img${img}\n  dmap:\n${lines.join('')}`;
    });
    await writeFile(join(dir, 'registry', 'images', p, 'images.yaml'), images.join(''));
  }
  await mkdir(join(dir, 'artifacts', 'filestores', 'k8s-staging-files'), { recursive: true });
  await mkdir(join(dir, 'artifacts', 'manifests', 'k8s-staging-files'), { recursive: true });
  await writeFile(join(dir, 'artifacts', 'filestores', 'k8s-staging-files', 'filepromoter-manifest.yaml'), 'filestores:\n- base: gs://k8s-staging-files/\n  src: true\n- base: gs://k8s-artifacts-prod/binaries/\n');
  const files = Array.from({ length: 30 }, (_, i) => `- name: v1/bin-${i}\n  sha256: ${createHash('sha256').update(String(i)).digest('hex')}\n`);
  await writeFile(join(dir, 'artifacts', 'manifests', 'k8s-staging-files', 'files.yaml'), `files:\n${files.join('')}`);

  const requests = new Map<string, number>();
  const counting: typeof fetch = (input, init) => {
    const host = new URL(input instanceof Request ? input.url : String(input)).host;
    requests.set(host, (requests.get(host) ?? 0) + 1);
    return fetch(input, init);
  };
  const { out, io } = captureIo();
  const backends = createBackends({ fetch: counting, env: { GCS_ENDPOINT: `http://${gcs}` }, timeouts: { responseMs: 300, idleMs: 300 }, retry: RETRY });
  t.teardown(() => backends.close());
  const r = await promote({ dir, confirm, prune: false, parallel: PARALLEL, retry: RETRY, lease: { waitMs: 0 } }, backends, io);

  t.log(`requests per host: ${JSON.stringify(Object.fromEntries(requests))}, connections to the silent one: ${hung.connections()}`);
  t.is(r.exitCode, 1);
  // Items: 3 projects x 3 destinations x 40 digests on each registry host, 2 x 30 files on gs.
  // Per item that was one ledger read, a tags list and a HEAD per digest, each up to 3 x 3
  // attempts (the client's retries inside the observer's). Now: what was in flight when the
  // first failure came back, each with at most the client's own retries.
  const bound = PARALLEL * RETRY.attempts;
  t.true((requests.get(refused) ?? 0) <= bound, `refused host: ${requests.get(refused)} requests`);
  t.true((requests.get(hung.host) ?? 0) <= PARALLEL, `silent host: ${requests.get(hung.host)} requests`);
  // undici opens up to two connections for a request that gets no answer (4 fetches to a
  // silent listener, aborted: 8 connections), so connections are bounded by twice the requests.
  t.true(hung.connections() <= 2 * PARALLEL, `silent host: ${hung.connections()} connections`);
  t.true((requests.get(gcs) ?? 0) <= 2 * bound, `gcs (two buckets): ${requests.get(gcs)} requests`);
  t.true((requests.get(refused) ?? 0) >= 1 && (requests.get(hung.host) ?? 0) >= 1 && (requests.get(gcs) ?? 0) >= 1);

  // Each endpoint reported once, with what it covers.
  const downLines = out.stdout.split('\n').filter((l) => l.startsWith('unreachable: '));
  t.is(downLines.length, 4, out.stdout);
  t.regex(out.stdout, new RegExp(`^unreachable: ${refused}: .*ECONNREFUSED.*; 12 location\\(s\\) in 3 project\\(s\\), 480 manifest item\\(s\\) not checked`, 'm'));
  t.regex(out.stdout, new RegExp(`^unreachable: ${hung.host}: .*no response within 0\\.3s.*; 9 location\\(s\\) in 3 project\\(s\\), 360 manifest item\\(s\\) not checked`, 'm'));
  t.regex(out.stdout, /^unreachable: gs:\/\/k8s-artifacts-prod: .*; 1 location\(s\) in 1 project\(s\), 30 manifest item\(s\) not checked/m);
  t.regex(out.stdout, /^unreachable: gs:\/\/k8s-staging-files: .*; 1 location\(s\) in 1 project\(s\), 30 manifest item\(s\) not checked/m);
  t.regex(out.stdout, new RegExp(`^  error: unreachable: 4 location\\(s\\) on ${refused} not checked`, 'm'));
  // The verdict: how many projects could not be checked, never "Nothing to do".
  t.notRegex(out.stdout, /Nothing to do/);
  t.regex(out.stdout, /Could not check 4 project\(s\) \([^)]*\): \d+ location\(s\) unreachable, \d endpoint\(s\) down/);
});

test('dry run: unreachable hosts are tried once per run, not per item, and the verdict says what was not checked', unreachable, false);
// --confirm leases each destination first: one destination per endpoint, then the others.
test('--confirm: the same, leases included', unreachable, true);
