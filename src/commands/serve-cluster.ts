// `serve --workers N`: one primary process and N workers (node:cluster) on one address.
//
// The primary serves nothing itself. It loads and watches the config and takes SIGHUP, SIGTERM
// and SIGINT; each accepted config goes to every worker as the text it was compiled from (so all
// compile the same file, and a worker started later gets the one serving, not whatever the file
// holds then); a rejected one is reported once, here, and every worker keeps the old one. It
// restarts a worker that dies (with a backoff), collects /metrics from every worker for the one
// that was asked (prom-client's AggregatorRegistry), relays a POST /-/purge to the other workers,
// and writes the access log, so lines from several processes never interleave mid-line.
//
// Per worker, on purpose: the availability cache, probes and breakers (sharing them would put an
// IPC round trip on the hot path; each worker learns the same facts within a probe interval), and
// the rate limit, which each enforces at 1/N (see docs/deployment.md).
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { pino, type Logger } from 'pino';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { CompiledConfig } from '../config/compiled.js';
import { ConfigHolder } from '../config/config-holder.js';
import { formatProblem } from '../config/yaml-source.js';
import { errorMessage } from '../util/error-message.js';

type PurgeScope = { mirror?: string; key?: string };

/** From the primary to a worker. */
export type ToWorker =
  | { serve: 'config'; text: string; workers: number }
  | { serve: 'rejected' }
  | { serve: 'hangup'; count: boolean }
  | { serve: 'purge'; scope: PurgeScope }
  | { serve: 'metrics'; id: number; text?: string; error?: string }
  | { serve: 'scrape'; id: number };

/** From a worker to the primary. */
type ToPrimary =
  | { serve: 'hello' }
  | { serve: 'log'; text: string }
  | { serve: 'purge'; scope: PurgeScope }
  | { serve: 'metrics'; id: number }
  | { serve: 'ready' }
  | { serve: 'scraped'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { serve: 'bye' };

const MAX_WORKERS = 256;
/** The primary waits this long for each worker's metrics; a scrape waits a little longer for the primary. */
const WORKER_SCRAPE_MS = 3000;
const SCRAPE_TIMEOUT_MS = 5000;
/** Restart delays: the first after 250 ms, doubling while workers keep dying within a minute. */
const RESTART_FIRST_MS = 250;
const RESTART_MAX_MS = 30_000;
/** After its drain bound, a worker gets this long to exit before it is killed. */
const EXIT_GRACE_MS = 5000;

/** `--workers`: 1 to 256, or `auto` for the available parallelism; undefined when invalid. */
export function parseWorkers(text: string | undefined): number | undefined {
  if (text === undefined) return 1;
  if (text === 'auto') return availableParallelism();
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 && n <= MAX_WORKERS ? n : undefined;
}

function isMessage(message: unknown): message is { serve: string } {
  return typeof message === 'object' && message !== null && typeof (message as { serve?: unknown }).serve === 'string';
}

export interface WorkerChannel {
  id: number;
  /** How many workers serve (each enforces 1/N of the rate limit). */
  workers: number;
  /** The config text the primary accepted. */
  configText: string;
  /** Hands a batch of access-log lines to the primary. */
  accessLog(batch: string): void;
  purgeOthers(scope: PurgeScope): void;
  /** Every worker's metrics, added up by the primary. */
  clusterMetrics(): Promise<string>;
  onMessage(listener: (message: Exclude<ToWorker, { serve: 'metrics' | 'scrape' }>) => void): void;
  /** Lets the primary read this registry when it aggregates. */
  registerMetrics(registry: Registry): void;
  /** Lets go of the primary (after draining), once what was sent has gone. */
  close(): void;
}

/** In a worker: says hello and waits for the config to serve. */
export async function workerChannel(): Promise<WorkerChannel> {
  const send = (message: ToPrimary, done?: () => void) => {
    if (process.connected) process.send!(message, undefined, undefined, done);
  };
  const listeners: ((message: Exclude<ToWorker, { serve: 'metrics' | 'scrape' }>) => void)[] = [];
  let registered: Registry | undefined;
  const scrapes = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let configured = false;
  const first = new Promise<{ text: string; workers: number }>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isMessage(message)) return;
      const m = message as ToWorker;
      if (m.serve === 'config' && !configured) {
        configured = true;
        return resolve(m);
      }
      if (m.serve === 'metrics') {
        const scrape = scrapes.get(m.id);
        scrapes.delete(m.id);
        if (m.error !== undefined) scrape?.reject(new Error(`metrics from the other workers: ${m.error}`));
        else scrape?.resolve(m.text ?? '');
        return;
      }
      if (m.serve === 'scrape') {
        void registered?.getMetricsAsJSON().then((metrics) => send({ serve: 'scraped', id: m.id, metrics }));
        return;
      }
      for (const listener of listeners) listener(m);
    });
  });
  send({ serve: 'hello' });
  const { text, workers } = await first;
  return {
    id: cluster.worker!.id,
    workers,
    configText: text,
    accessLog: (batch) => send({ serve: 'log', text: batch }),
    purgeOthers: (scope) => send({ serve: 'purge', scope }),
    clusterMetrics() {
      const id = nextId++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          scrapes.delete(id);
          reject(new Error(`no metrics from the primary within ${SCRAPE_TIMEOUT_MS} ms`));
        }, SCRAPE_TIMEOUT_MS);
        const settle =
          <T>(f: (value: T) => void) =>
          (value: T) => {
            clearTimeout(timer);
            f(value);
          };
        scrapes.set(id, { resolve: settle(resolve), reject: settle(reject) });
        send({ serve: 'metrics', id });
      });
    },
    onMessage: (listener) => void listeners.push(listener),
    registerMetrics(registry) {
      registered = registry;
      send({ serve: 'ready' });
    },
    close: () => send({ serve: 'bye' }, () => process.disconnect()),
  };
}

export interface PrimaryOptions {
  workers: number;
  configFile: string;
  config: CompiledConfig;
  text: string | undefined;
  watch: boolean;
  accessLog: string;
  logger: Logger;
  drainTimeoutMs: number;
  tls: boolean;
}

/** In the primary: runs the workers until SIGTERM or SIGINT, and returns the exit code. */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { logger, workers } = options;
  const holder = new ConfigHolder(options.configFile, options.config, options.text);
  const out = options.accessLog === 'off' ? undefined : pino.destination({ dest: options.accessLog === '-' ? 1 : options.accessLog, sync: false, mkdir: true });
  // Only workers that said they are ready are asked: a starting one could not answer yet.
  const ready = new Set<Worker>();
  const scrapes = new Map<number, (worker: Worker, metrics: MetricObjectWithValues<MetricValue<string>>[]) => void>();
  let nextScrape = 0;
  /** Every ready worker's metrics, added up; a worker that does not answer in time is left out (and logged). */
  const clusterMetrics = async (): Promise<string> => {
    const id = nextScrape++;
    const asked = [...ready].filter((w) => w.isConnected());
    const answers = new Map<Worker, MetricObjectWithValues<MetricValue<string>>[]>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, WORKER_SCRAPE_MS);
      scrapes.set(id, (worker, metrics) => {
        answers.set(worker, metrics);
        if (answers.size === asked.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      if (asked.length === 0) resolve();
      for (const worker of asked) worker.send({ serve: 'scrape', id } satisfies ToWorker);
    });
    scrapes.delete(id);
    const silent = asked.filter((w) => !answers.has(w)).map((w) => w.id);
    if (silent.length > 0) logger.warn({ workers: silent }, 'metrics: left out workers that did not answer in time');
    return AggregatorRegistry.aggregate([...answers.values()]).metrics();
  };
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w?.isConnected()));
  const broadcast = (message: ToWorker) => {
    for (const worker of live()) worker.send(message);
  };

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage(message)) return;
    const m = message as ToPrimary;
    switch (m.serve) {
      case 'hello':
        // holder.text is set: the primary read the file itself.
        worker.send({ serve: 'config', text: holder.text!, workers } satisfies ToWorker);
        return;
      case 'log':
        out?.write(m.text);
        return;
      case 'purge':
        for (const other of live()) if (other !== worker) other.send({ serve: 'purge', scope: m.scope } satisfies ToWorker);
        return;
      case 'ready':
        ready.add(worker);
        return;
      case 'scraped':
        scrapes.get(m.id)?.(worker, m.metrics);
        return;
      case 'metrics':
        clusterMetrics().then(
          (text) => worker.isConnected() && worker.send({ serve: 'metrics', id: m.id, text } satisfies ToWorker),
          (error: unknown) => worker.isConnected() && worker.send({ serve: 'metrics', id: m.id, error: errorMessage(error) } satisfies ToWorker),
        );
        return;
      case 'bye':
        return;
    }
  });

  holder.onReload((result) => {
    if (result.ok) {
      logger.info({ config: holder.file, workers: live().length }, 'config reloaded');
      broadcast({ serve: 'config', text: holder.text!, workers });
    } else {
      logger.error({ config: holder.file, problems: result.problems.map(formatProblem) }, 'config reload rejected; still serving the previous config');
      broadcast({ serve: 'rejected' });
    }
  });
  if (options.watch) holder.watchFile();
  const onHangup = () => {
    // Each worker drops its availability answers and reloads its TLS files; the config follows.
    for (const [i, worker] of live().entries()) worker.send({ serve: 'hangup', count: i === 0 } satisfies ToWorker);
    logger.info('SIGHUP: availability answers dropped');
    holder.reload();
  };
  process.on('SIGHUP', onHangup);

  let stopping = false;
  let restartDelay = 0;
  let lastDeath = -Infinity;
  const restarts = new Set<NodeJS.Timeout>();
  let started = 0;
  let firstAddress: { address: string; port: number } | undefined;
  let listeningNow!: () => void;
  let listeningFailed!: (error: Error) => void;
  const allListening = new Promise<void>((resolve, reject) => {
    listeningNow = resolve;
    listeningFailed = reject;
  });
  allListening.catch(() => {});
  cluster.on('listening', (_worker, address) => {
    firstAddress ??= { address: address.address, port: address.port };
    if (++started === workers) listeningNow();
  });
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker);
    if (stopping) return;
    if (started < workers) {
      listeningFailed(new Error(`worker ${worker.id} exited (code ${code}, signal ${signal}) before listening`));
      return;
    }
    const now = performance.now();
    restartDelay = now - lastDeath < 60_000 ? Math.min(RESTART_MAX_MS, restartDelay * 2) : RESTART_FIRST_MS;
    lastDeath = now;
    logger.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: restartDelay }, 'worker died; restarting it');
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) cluster.fork();
    }, restartDelay);
    restarts.add(timer);
  });

  for (let i = 0; i < workers; i++) cluster.fork();
  const signalled = Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  try {
    await Promise.race([allListening, signalled]);
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'cannot start: a worker exited before listening');
    stopping = true;
    process.off('SIGHUP', onHangup);
    holder.close();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    return 1;
  }
  if (firstAddress) {
    const scheme = options.tls ? 'https' : 'http';
    logger.info({ host: firstAddress.address, port: firstAddress.port, config: options.configFile, workers }, `listening on ${scheme}://${firstAddress.address}:${firstAddress.port}`);
  }

  const [signal] = await signalled;
  stopping = true;
  for (const timer of restarts) clearTimeout(timer);
  logger.info({ signal, workers: live().length, drainSeconds: options.drainTimeoutMs / 1000 }, 'shutting down: draining connections');
  process.off('SIGHUP', onHangup);
  holder.close();
  // Each worker drains as a single process would; a second signal cuts their drains short.
  const forward = (sig: NodeJS.Signals) => () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(sig);
  };
  forward('SIGTERM')();
  const again = forward('SIGTERM');
  process.once('SIGTERM', again).once('SIGINT', again);
  const remaining = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.process.exitCode === null && w.process.signalCode === null);
  let killed = 0;
  const deadline = setTimeout(() => {
    for (const worker of remaining) {
      if (worker.process.exitCode !== null || worker.process.signalCode !== null) continue;
      killed++;
      worker.process.kill('SIGKILL');
    }
  }, options.drainTimeoutMs + EXIT_GRACE_MS);
  await Promise.all(remaining.map((worker) => (worker.process.exitCode !== null || worker.process.signalCode !== null ? undefined : once(worker, 'exit'))));
  clearTimeout(deadline);
  process.off('SIGTERM', again).off('SIGINT', again);
  logger.info({ killed }, killed ? `drained; ${killed} worker(s) killed at the deadline` : 'drained');
  out?.flushSync();
  return 0;
}
