// `serve`: load the config (refusing to start on a bad one), start the redirector, reload on
// SIGHUP or file change, and shut down cleanly on SIGTERM/SIGINT. With --workers N, a primary
// process does the loading, watching and signals, and N workers (node:cluster) serve.
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigHolder } from '../config/config-holder.js';
import { loadConfigFile, loadConfigText, type LoadResult } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import { applyReload, createMirrorState } from '../mirrors/config-to-state.js';
import { openAccessLog } from '../server/access-log.js';
import { createRedirectorServer } from '../server/app.js';
import { trackConnections } from '../server/drain.js';
import { readTlsPair, watchTlsFiles, type TlsPair } from '../server/tls-files.js';
import { createMetrics } from '../server/metrics.js';
import type { CliIO } from './io.js';
import { errorMessage } from '../util/error-message.js';
import { auditLogEntries } from '../trust/audit-log.js';
import { loadExpected } from '../trust/expected.js';
import { registerTrustMetrics } from '../trust/metrics.js';
import { TrustRunner, TrustState, withTrust } from '../trust/state.js';
import { parseWorkers, runPrimary, workerChannel, type WorkerChannel } from './serve-cluster.js';

const HELP = `Usage: artifact-serving serve --config FILE [--port N] [--host ADDR] [--access-log PATH|-|off]
                              [--tls-cert FILE --tls-key FILE] [--workers N|auto]

Runs the redirector. A bad config stops the start with every problem listed; later, a bad
config on reload (SIGHUP or a change to the file) is reported and the old one keeps serving.
SIGHUP also drops every cached availability answer (POST /-/purge drops some or all).
SIGTERM or SIGINT drains: no new connections, every request already sent is answered (with
Connection: close), idle connections close after 1 s, and the process exits within 15 s
(a second signal exits at once).

Options:
  --config FILE        redirector config (required)
  --port N             port to listen on (default 8080; 0 picks a free one)
  --host ADDR          address to listen on (default 0.0.0.0)
  --access-log DEST    JSON access log: - for stdout (default), a file path, or off
  --no-watch           reload on SIGHUP only, not on file change
  --tls-cert FILE      serve HTTPS with this PEM certificate chain (with --tls-key); both
  --tls-key FILE       files are reloaded on change and on SIGHUP, a bad pair keeps the old
  --workers N|auto     serve from N processes (auto: one per available core; default 1). The
                       primary loads and watches the config, takes the signals and restarts a
                       worker that dies; /metrics adds up every worker's figures
`;

/**
 * The longest SIGTERM waits for connections to finish: requests wait at most checkTimeoutMs
 * (300 ms by default) for checks, so this is mostly for slow clients reading their answer. It
 * fits the deployment's terminationGracePeriodSeconds (40) after its 10 s preStop sleep.
 */
const DRAIN_TIMEOUT_MS = 15_000;
/** While draining, a connection with no request for this long is closed (idle keep-alives). */
const DRAIN_IDLE_GRACE_MS = 1000;

export async function serveCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '0.0.0.0' },
      'access-log': { type: 'string', default: '-' },
      'no-watch': { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      workers: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const port = Number(values.port);
  if (!values.config || !Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr(`serve needs --config FILE and a valid --port\n\n${HELP}`);
    return 2;
  }
  const workers = parseWorkers(values.workers);
  if (workers === undefined) {
    io.stderr(`serve --workers takes a number from 1 to 256, or auto\n\n${HELP}`);
    return 2;
  }
  const tlsFiles = values['tls-cert'] && values['tls-key'] ? { cert: values['tls-cert'], key: values['tls-key'] } : undefined;
  if (!tlsFiles && (values['tls-cert'] || values['tls-key'])) {
    io.stderr(`serve needs both --tls-cert and --tls-key, or neither\n\n${HELP}`);
    return 2;
  }
  let tls: TlsPair | undefined;
  try {
    tls = tlsFiles && readTlsPair(tlsFiles);
  } catch (error) {
    io.stderr(`${errorMessage(error)}\ncannot start\n`);
    return 1;
  }
  // A worker serves the config text its primary accepted, so every worker compiles the same file.
  const channel = cluster.isWorker ? await workerChannel() : undefined;
  let text: string | undefined = channel?.configText;
  if (text === undefined) {
    try {
      text = readFileSync(values.config, 'utf8');
    } catch {
      // loadConfigFile reports it.
    }
  }
  const loaded: LoadResult = text === undefined ? loadConfigFile(values.config) : loadConfigText(values.config, text);
  if (!loaded.ok) {
    io.stderr(`${loaded.problems.map(formatProblem).join('\n')}\ncannot start: the config has ${loaded.problems.length} problem(s)\n`);
    channel?.close();
    return 1;
  }

  // The expected content (issue 9) must load too: a trust config that cannot be read is no trust.
  const expected = await loadExpected(loaded.config.trust);
  if (!expected.ok) {
    io.stderr(`${expected.problems.map(formatProblem).join('\n')}\ncannot start: the expected content has ${expected.problems.length} problem(s)\n`);
    return 1;
  }

  const logger = pino({ name: 'artifact-serving', ...(channel && { base: { pid: process.pid, worker: channel.id } }) }, pino.destination(2));
  const accessLogDest = values['access-log'];
  if (workers > 1 && !channel) {
    return runPrimary({ workers, configFile: values.config, config: loaded.config, text, watch: !values['no-watch'], accessLog: accessLogDest, logger, drainTimeoutMs: DRAIN_TIMEOUT_MS, tls: Boolean(tls) });
  }
  const accessLog = accessLogDest === 'off' ? undefined : openAccessLog(channel ? channel.accessLog : accessLogDest);
  const metrics = createMetrics({ processMetrics: true });
  const holder = new ConfigHolder(values.config, loaded.config, text);
  metrics.configLoadedAt.set(loaded.config.loadedAt.getTime() / 1000);
  holder.onReload((result) => {
    metrics.configReloads.inc({ result: result.ok ? 'ok' : 'invalid' });
    if (result.ok) {
      metrics.configLoadedAt.set(result.config.loadedAt.getTime() / 1000);
      // A worker's reloads come from its primary, which logged them once already.
      if (!channel) logger.info({ config: holder.file }, 'config reloaded');
    } else {
      logger.error({ config: holder.file, problems: result.problems.map(formatProblem) }, 'config reload rejected; still serving the previous config');
    }
  });
  const state = createMirrorState(loaded.config, logger);
  let serving = loaded.config;
  holder.onReload((result) => {
    if (!result.ok) return;
    applyReload(state, serving, result.config);
    serving = result.config;
  });
  metrics.observeMirrors(() => holder.current, state);
  state.start();
  const trust = new TrustState();
  const trustRunner = new TrustRunner(trust, logger, undefined, channel?.workers ?? 1);
  // What a ledger marked retiring has been deleted (prune grace): answers cached while it existed are stale.
  trustRunner.onRetired = (keys) => {
    let dropped = 0;
    for (const key of keys) dropped += state.purge({ key });
    metrics.availabilityPurges.inc({ scope: 'object' }, keys.length);
    logger.info({ objects: keys.length, dropped }, 'retired objects: availability answers dropped');
  };
  // One line per mirror per audit pass in the access log: `report` shows freshness from it.
  if (accessLog?.audit) {
    const write = accessLog.audit;
    trustRunner.onAudit = (result) => {
      for (const entry of auditLogEntries(trust, result)) write(entry);
    };
  }
  await trustRunner.load(loaded.config, expected);
  registerTrustMetrics(metrics.registry, trust, () => holder.current.mirrors.keys());
  holder.onReload((result) => {
    if (result.ok) void trustRunner.load(result.config);
  });
  if (!values['no-watch'] && !channel) holder.watchFile();
  // SIGHUP is the operator's "forget what you know": every cached availability answer goes, so a
  // mirror that lost objects gets no client for them from now on. A reload on file change drops
  // only the answers of mirrors whose definition changed (applyReload): config management may
  // touch the file often, and each full drop costs a HEAD per object and mirror, with waits.
  const onHangup = () => {
    const dropped = state.purge();
    metrics.availabilityPurges.inc({ scope: 'all' });
    logger.info({ dropped }, 'SIGHUP: availability answers dropped');
    holder.reload();
    tlsReloader?.reload();
  };
  // A worker leaves SIGHUP to its primary (a SIGHUP to the process group must not end it).
  const onSignalHangup = channel ? () => {} : onHangup;
  process.on('SIGHUP', onSignalHangup);
  if (channel) serveForPrimary(channel, { holder, state, metrics, reloadTls: () => tlsReloader?.reload() });

  const server = createRedirectorServer({ holder, state: withTrust(state, trust), metrics, logger, ...(accessLog && { accessLog }), ...(tls && { tls }), ...(channel && { workers: channel.workers }) });
  const drainer = trackConnections(server);
  const tlsReloader =
    tlsFiles &&
    watchTlsFiles(server as unknown as HttpsServer, tlsFiles, (error) => {
      if (error) logger.error({ err: error.message }, 'TLS certificate reload rejected; still serving the previous one');
      else logger.info({ cert: tlsFiles.cert }, 'TLS certificate reloaded');
    });
  server.listen(port, values.host);
  await once(server, 'listening');
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const scheme = tls ? 'https' : 'http';
  // The primary says "listening on" once every worker is.
  if (channel) logger.info({ port: actualPort }, 'worker listening');
  else logger.info({ host: values.host, port: actualPort, config: values.config, tls: Boolean(tls) }, `listening on ${scheme}://${values.host}:${actualPort}`);

  const signal = await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  logger.info({ signal: signal[0], drainSeconds: DRAIN_TIMEOUT_MS / 1000 }, 'shutting down: draining connections');
  process.off('SIGHUP', onSignalHangup);
  holder.close();
  tlsReloader?.close();
  // A second signal cuts the drain short.
  const again = () => void drainer.drain(0);
  process.once('SIGTERM', again).once('SIGINT', again);
  const { forced } = await drainer.drain(DRAIN_TIMEOUT_MS, DRAIN_IDLE_GRACE_MS);
  process.off('SIGTERM', again).off('SIGINT', again);
  // Probes and checks stop only now: requests answered while draining may still need them.
  await trustRunner.stop();
  await state.stop();
  logger.info({ forced }, forced ? `drained; ${forced} connection(s) closed at the deadline` : 'drained');
  accessLog?.flush();
  // The IPC channel would keep a worker alive: let it go, so the worker exits on its own.
  channel?.close();
  return 0;
}

/** A worker does what its primary asks: reload, SIGHUP's purge, other workers' purges, scrapes. */
function serveForPrimary(channel: WorkerChannel, deps: { holder: ConfigHolder; state: ReturnType<typeof createMirrorState>; metrics: ReturnType<typeof createMetrics>; reloadTls: () => void }): void {
  const { holder, state, metrics } = deps;
  const purgeHere = state.purge.bind(state);
  // POST /-/purge reaches one worker: the others drop the same answers.
  state.purge = (scope = {}) => {
    channel.purgeOthers(scope);
    return purgeHere(scope);
  };
  metrics.exposition = () => channel.clusterMetrics();
  channel.onMessage((message) => {
    switch (message.serve) {
      case 'config':
        holder.reload(message.text);
        return;
      case 'rejected':
        metrics.configReloads.inc({ result: 'invalid' });
        return;
      case 'hangup':
        purgeHere();
        // Counted once for the whole set, by the worker the primary names.
        if (message.count) metrics.availabilityPurges.inc({ scope: 'all' });
        deps.reloadTls();
        return;
      case 'purge':
        purgeHere(message.scope);
        return;
    }
  });
  channel.registerMetrics(metrics.registry);
}
