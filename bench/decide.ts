// `npx tsx bench/decide.ts`: the redirect path in-process, without sockets, per request: decide()
// alone, and the server's whole request handler (decide, headers, metrics, access-log line) with
// a stub response. Prints microseconds and bytes allocated per request: the before/after evidence
// for changes to the hot path, steadier on a shared machine than requests/s through wrk.
// Run with `node --expose-gc --max-semi-space-size=256 --import tsx bench/decide.ts` for the byte
// figures (a young generation large enough that no collection runs while a batch is measured).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import type { ConfigHolder } from '../src/config/config-holder.js';
import { loadConfigFile } from '../src/config/load.js';
import type { CompiledConfig } from '../src/config/compiled.js';
import { decide, type RequestFacts } from '../src/decision/decide.js';
import { LocationCache } from '../src/geo/location.js';
import { createMirrorState } from '../src/mirrors/config-to-state.js';
import type { MirrorStateService } from '../src/mirrors/state-view.js';
import { createRedirectorServer } from '../src/server/app.js';
import { createMetrics } from '../src/server/metrics.js';
import { openAccessLog } from '../src/server/access-log.js';
import { loadExpected } from '../src/trust/expected.js';
import { TrustRunner, TrustState, withTrust } from '../src/trust/state.js';
import { BENCH_PATHS, benchConfig, clientAddresses, distinctClientAddresses, startMirrorStub, TRUST_MANIFESTS, trustConfigs } from './bench-configs.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200_000);
const gc = (globalThis as { gc?: () => void }).gc;

interface Setup {
  config: CompiledConfig;
  state: MirrorStateService;
  stop(): Promise<void>;
}

async function setUp(file: string): Promise<Setup> {
  const loaded = loadConfigFile(file);
  if (!loaded.ok) throw new Error(`${file}: ${JSON.stringify(loaded.problems)}`);
  const config = loaded.config;
  const mirrors = createMirrorState(config);
  const trust = new TrustState();
  const silent = { info: () => undefined, error: () => undefined };
  const runner = new TrustRunner(trust, silent);
  const expected = await loadExpected(config.trust);
  if (!expected.ok) throw new Error(`expected content: ${JSON.stringify(expected.problems)}`);
  await runner.load(config, expected);
  return { config, state: withTrust(mirrors, trust), stop: () => mirrors.stop() };
}

/** Runs every pending availability check (against the stub) so the measured loop never waits. */
async function warm(setup: Setup, requests: RequestFacts[]): Promise<void> {
  for (const facts of requests) {
    const first = decide(facts, setup.config, setup.state);
    if (first.kind === 'check') await setup.state.ensureChecked(first.checks, 5_000);
  }
}

function measure(label: string, requests: readonly RequestFacts[], run: (facts: RequestFacts) => unknown): void {
  const warmUp = Math.min(ITERATIONS, 50_000);
  for (let i = 0; i < warmUp; i++) run(requests[i % requests.length]!);
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  // CPU time, not wall time: on a shared machine the process is not always running.
  const started = process.cpuUsage();
  // Continuing where the warm-up stopped: with as many requests as both, every measured one is new.
  for (let i = warmUp; i < warmUp + ITERATIONS; i++) run(requests[i % requests.length]!);
  const used = process.cpuUsage(started);
  const ns = (used.user + used.system) * 1000;
  const bytes = process.memoryUsage().heapUsed - heapBefore;
  const perRequestBytes = gc ? `${(bytes / ITERATIONS).toFixed(0).padStart(6)} B` : '     ? B';
  console.log(`${label.padEnd(58)} ${(ns / ITERATIONS / 1000).toFixed(2).padStart(6)} µs CPU ${perRequestBytes}`);
}

function facts(paths: readonly string[], ips: readonly string[]): RequestFacts[] {
  const out: RequestFacts[] = [];
  for (let i = 0; i < ips.length; i++) out.push({ method: 'GET', path: paths[i % paths.length]!, query: '', peerAddress: '127.0.0.1', forwardedFor: ips[i]! });
  return out;
}

/** The server's request handler, called with stub request and response objects. */
function handlerOf(setup: Setup): (facts: RequestFacts) => void {
  const server = createRedirectorServer({ holder: { current: setup.config } as ConfigHolder, state: setup.state, metrics: createMetrics(), accessLog: openAccessLog(() => undefined) });
  const handler = server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  const socket = { remoteAddress: '127.0.0.1' };
  const res = {
    statusCode: 200,
    headersSent: false,
    writeHead(status: number) {
      this.statusCode = status;
      return this;
    },
    end() {},
    setHeader() {},
  };
  return (f) => {
    const req = { url: f.path, method: f.method, rawHeaders: ['Host', 'bench', 'User-Agent', 'wrk', 'X-Forwarded-For', f.forwardedFor!], socket };
    handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  };
}

async function main(): Promise<void> {
  const stub = await startMirrorStub();
  const ips = clientAddresses(2000);
  const binary = facts(BENCH_PATHS.binary, ips);
  const blob = facts(BENCH_PATHS.blob, ips);
  const checked = facts(['/checked/v1.31.0/bin/linux/amd64/kubectl', '/checked/v1.30.2/bin/linux/arm64/kubelet'], ips);
  const fresh = facts(BENCH_PATHS.binary.slice(0, 1), distinctClientAddresses(ITERATIONS + 50_000));
  const main = await setUp(benchConfig(stub.port));
  await warm(main, checked);
  const locations = new LocationCache();
  console.log(`node ${process.version}, ${ITERATIONS} requests each, 2,000 client addresses in X-Forwarded-For${gc ? '' : ' (run with --expose-gc for bytes)'}`);
  measure('decide() binary route', binary, (f) => decide(f, main.config, main.state, locations));
  measure('decide() blob route', blob, (f) => decide(f, main.config, main.state, locations));
  measure('decide() checked route, warm cache', checked, (f) => decide(f, main.config, main.state, locations));
  measure('decide() binary route, all-new clients', fresh, (f) => decide(f, main.config, main.state, locations));
  const handle = handlerOf(main);
  measure('handler binary route (access log on)', binary, handle);
  measure('handler blob route (access log on)', blob, handle);
  measure('handler binary route, all-new clients (access log on)', fresh, handle);
  await main.stop();
  if (existsSync(TRUST_MANIFESTS)) {
    const { tagPaths, stub: tagStub } = await trustTargets();
    const configs = await trustConfigs(tagStub.port, TRUST_MANIFESTS);
    for (const [label, file] of [
      ['plain', configs.plain],
      ['expected content loaded', configs.trusted],
    ] as const) {
      const setup = await setUp(file);
      const requests = facts(tagPaths, ips);
      await warm(setup, requests);
      measure(`decide() checked OCI tags and digests (${label})`, requests, (f) => decide(f, setup.config, setup.state, locations));
      await setup.stop();
    }
    tagStub.close();
  }
  stub.close();
}

/** As bench/run.ts: real tags of real images, by tag and by digest, on a stub that answers with the promoted digest. */
async function trustTargets(): Promise<{ tagPaths: string[]; stub: { port: number; close(): void } }> {
  const probe = await trustConfigs(1, TRUST_MANIFESTS);
  const loaded = loadConfigFile(probe.trusted);
  const expected = loaded.ok ? await loadExpected(loaded.config.trust) : undefined;
  const images = expected?.ok ? [...expected.expected.route('/v2')!.images].filter(([, i]) => i.tags.size > 0).slice(0, 4) : [];
  const tagDigests = new Map<string, string>();
  const tagPaths: string[] = [];
  for (const [name, image] of images) {
    const [tag, digest] = [...image.tags][0]!;
    tagDigests.set(`${name}/manifests/${tag}`, digest);
    tagPaths.push(`/v2/${name}/manifests/${tag}`, `/v2/${name}/manifests/${digest}`);
  }
  return { tagPaths, stub: await startMirrorStub(tagDigests) };
}

await main();
