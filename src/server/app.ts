// The HTTP server. Redirects are the hot path and go from Node's request straight to decide()
// and back: Koa with a router measured about half of a bare node:http server's throughput on
// this machine class, and the redirect path is all a pull hits. Everything else (health,
// readiness, metrics, pages) is a Koa app with @koa/router, where clarity matters more.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Koa, { type Context, type Next } from 'koa';
import type { Logger } from 'pino';
import type { ConfigHolder } from '../config/config-holder.js';
import type { CompiledConfig, CompiledRateLimit } from '../config/compiled.js';
import { decide, type Decision, type RequestFacts, type Target } from '../decision/decide.js';
import { TargetMemo } from '../decision/target-memo.js';
import { resolveClientIp } from '../geo/client-ip.js';
import { LocationCache } from '../geo/location.js';
import type { MirrorStateService } from '../mirrors/state-view.js';
import type { AccessLog } from './access-log.js';
import { adminRouter, isAdminPath } from './admin.js';
import type { RedirectorMetrics } from './metrics.js';
import { applyLimits, DEFAULT_LIMITS, serverOptions, type ServerLimits } from './limits.js';
import { ociErrorBody } from './oci-error.js';
import { isManifestPath, RateLimiter, rateLimitHeaders } from './rate-limit.js';
import { bytesFetched } from './range-bytes.js';
import { readRedirectHeaders, type RedirectHeaders } from './request-headers.js';
import { respond, respondInternalError } from './respond.js';
import { errorMessage } from '../util/error-message.js';

export interface AppDeps {
  holder: ConfigHolder;
  state: MirrorStateService;
  metrics: RedirectorMetrics;
  /** One JSON line per request, for `report`; omit to log nothing. */
  accessLog?: AccessLog;
  logger?: Logger;
  /** Server limits other than DEFAULT_LIMITS (tests shorten the timeouts). */
  limits?: Partial<ServerLimits>;
  /** Serve HTTPS with this certificate chain and key (PEM); replace them with setSecureContext. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * How many processes serve this address (`serve --workers N`): each enforces 1/N of the rate
   * limit, since the primary hands connections to the workers in turn (docs/deployment.md).
   */
  workers?: number;
}

export function createRedirectorServer(deps: AppDeps): Server {
  const admin = createAdminApp(deps).callback();
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const limiter = new RateLimiter();
  const shareOf = rateLimitShare(deps.workers ?? 1);
  deps.metrics.observeRateLimiter(() => limiter.clients);
  // Client locations by address, for this server's lifetime (started over when a reload brings new geo data).
  const locations = new LocationCache();
  // What each path names under the serving config (started over when a reload brings another).
  const targets = new TargetMemo<Target>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (isAdminPath(path)) {
      void admin(req, res);
      return;
    }
    const headers = readRedirectHeaders(req.rawHeaders);
    const facts: RequestFacts = {
      method: req.method ?? 'GET',
      path,
      query: q === -1 ? '' : url.slice(q + 1),
      peerAddress: req.socket.remoteAddress ?? '',
      forwardedFor: headers.forwardedFor,
    };
    const started = performance.now();
    // One config for the whole request, even if a reload lands while checks run.
    const config = deps.holder.current;
    if (config.rateLimit && facts.method === 'GET' && isManifestPath(path)) {
      const ip = resolveClientIp(facts.peerAddress, facts.forwardedFor, config.trustedProxies);
      const rateLimit = shareOf(config.rateLimit);
      const verdict = ip && limiter.take(ip, rateLimit);
      if (verdict) {
        for (const [name, value] of rateLimitHeaders(verdict, rateLimit.burst)) res.setHeader(name, value);
        if (!verdict.allowed) {
          deps.metrics.rateLimited.inc();
          const refusal: Decision = {
            kind: 'error',
            status: 429,
            code: 'TOOMANYREQUESTS',
            message: `too many manifest requests from your address: at most ${rateLimit.perMinute} a minute; retry in ${verdict.retryAfterSeconds} s`,
            client: locations.locate(ip, config.geo),
            retryAfterSeconds: verdict.retryAfterSeconds,
          };
          return finish(headers, res, facts, refusal, started, deps, config);
        }
      }
    }
    const fail = (error: unknown) => {
      deps.logger?.error({ err: error, path }, 'request failed');
      respondInternalError(res);
    };
    let first: Decision;
    try {
      first = decide(facts, config, deps.state, locations, targets);
    } catch (error) {
      return fail(error);
    }
    if (first.kind !== 'check') {
      finish(headers, res, facts, first, started, deps, config);
      return followUp(deps.state, first, first);
    }
    // Only objects not yet in the availability cache take this slower, bounded path.
    deps.state
      .ensureChecked(first.checks, config.checkTimeoutMs)
      .then(() => {
        const second = decide({ ...facts, checksDone: true }, config, deps.state, locations, targets);
        finish(headers, res, facts, second, started, deps, config);
        followUp(deps.state, first, second);
      })
      .catch(fail);
  };
  // HTTP/1.1 over TLS when given a certificate: registry clients (Docker) insist on TLS for
  // any host but localhost, so this lets them reach the redirector without a proxy in front.
  const server: Server = deps.tls ? createHttpsServer({ ...serverOptions(limits), cert: deps.tls.cert, key: deps.tls.key, ALPNProtocols: ['http/1.1'] }, handler) : createServer(serverOptions(limits), handler);
  applyLimits(server, limits);
  return server;
}

/**
 * After the answer, what the decision asked for: its cache reads counted once per request (those
 * of the first pass, which saw the cache as the request found it), and the refreshes and breaker
 * trials of the decision that answered started in the background.
 */
function followUp(state: MirrorStateService, first: Decision, answered: Decision): void {
  if (first.kind !== 'v2-base' && first.reads) state.countReads(first.reads);
  if (answered.kind !== 'v2-base' && answered.refresh) state.refresh(answered.refresh);
}

/** One worker's part of a rate limit (rounded up, at least 1), computed once per config. */
function rateLimitShare(workers: number): (limit: CompiledRateLimit) => CompiledRateLimit {
  if (workers <= 1) return (limit) => limit;
  const shares = new WeakMap<CompiledRateLimit, CompiledRateLimit>();
  return (limit) => {
    let share = shares.get(limit);
    if (!share) {
      share = { ...limit, perMinute: Math.ceil(limit.perMinute / workers), burst: Math.max(1, Math.ceil(limit.burst / workers)) };
      shares.set(limit, share);
    }
    return share;
  };
}

function finish(headers: RedirectHeaders, res: ServerResponse, facts: RequestFacts, decision: Decision, started: number, deps: AppDeps, config: CompiledConfig): void {
  const isOci = facts.path === '/v2' || facts.path.startsWith('/v2/');
  try {
    // The distribution spec's proxying: a registry that honoured `?ns=` says which namespace it
    // answered for, so a client can tell a mirror that understood it from one that ignored it.
    if (isOci && (decision.kind === 'redirect' || decision.kind === 'v2-base') && facts.query.includes('ns=')) {
      const ns = honouredNamespace(facts.query, config);
      if (ns) res.setHeader('OCI-Namespace', ns);
    }
    respond(res, decision, isOci, headers.accept, headers.debug);
  } catch (error) {
    deps.logger?.error({ err: error, path: facts.path }, 'request failed');
    respondInternalError(res);
    return;
  }
  record(headers, res, facts, decision, isOci, started, deps);
}

function createAdminApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.use(ociErrors);
  const router = adminRouter(deps.holder, deps.metrics, deps.state);
  app.use(router.routes()).use(router.allowedMethods());
  app.on('error', (error: Error, ctx?: Context) => deps.logger?.error({ err: error, path: ctx?.path }, 'request failed'));
  return app;
}

const CODE_OF_STATUS: Record<number, string> = { 404: 'NOT_FOUND', 405: 'UNSUPPORTED', 501: 'UNSUPPORTED' };

/**
 * First in the chain: every error answer is OCI JSON, as on the redirect path. A thrown error
 * becomes 500 (or its own 4xx status) and is logged; a 4xx or 5xx left without a body (no route,
 * wrong method) gets one that says what and where.
 */
async function ociErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const status = (error as { status?: number }).status;
    const clientError = status !== undefined && status >= 400 && status < 500;
    if (!clientError) ctx.app.emit('error', error, ctx);
    ctx.status = clientError ? status : 500;
    ctx.body = ociErrorBody(clientError ? (CODE_OF_STATUS[status] ?? 'BAD_REQUEST') : 'INTERNAL', clientError ? errorMessage(error) : 'internal error');
    return;
  }
  if (ctx.status < 400 || ctx.body !== undefined) return;
  const message = ctx.status === 404 ? `no operator page at ${ctx.path}` : ctx.status === 405 ? `${ctx.method} is not allowed on ${ctx.path} (allowed: ${ctx.response.get('Allow')})` : `${ctx.method} ${ctx.path} failed`;
  const status = ctx.status;
  ctx.body = ociErrorBody(CODE_OF_STATUS[status] ?? 'INTERNAL', message);
  ctx.status = status;
}

function record(headers: RedirectHeaders, res: ServerResponse, facts: RequestFacts, decision: Decision, isOci: boolean, started: number, deps: AppDeps): void {
  const redirect = decision.kind === 'redirect' ? decision : undefined;
  deps.metrics.countRequest(isOci ? 'oci' : 'binary', res.statusCode, redirect?.mirror.name ?? '', redirect?.region ?? '');
  if (!deps.accessLog) return;
  // Every answer carries the located client (behind a proxy, the forwarded one), except 'check'.
  const client = decision.kind === 'check' ? undefined : decision.client;
  deps.accessLog.write({
    time: Date.now(),
    method: facts.method,
    path: facts.path,
    status: res.statusCode,
    ip: client?.ip.text ?? facts.peerAddress,
    country: client?.country,
    continent: client?.continent,
    cloud: client?.cloud,
    mirror: redirect?.mirror.name,
    region: redirect?.region,
    ms: Math.round((performance.now() - started) * 1000) / 1000,
    bytes: facts.method === 'GET' ? bytesFetched(redirect?.bytes, headers.range) : redirect?.bytes,
    ua: headers.userAgent,
  });
}

/** The `ns` of a query when it is a registry host name this redirector answers for. */
function honouredNamespace(query: string, config: CompiledConfig): string | undefined {
  const ns = new URLSearchParams(query).get('ns');
  // A host name with an optional port: nothing a client writes goes into a header unchecked.
  if (!ns || ns.length > 255 || !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$/.test(ns)) return undefined;
  return config.namespaces.size === 0 || config.namespaces.has(ns) ? ns : undefined;
}
