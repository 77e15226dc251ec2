// The Koa app: adapts HTTP to decide() and back. No routing logic lives here.
import Koa, { type Context } from 'koa';
import type { Logger } from 'pino';
import type { ConfigHolder } from '../config/config-holder.js';
import { decide, type Decision, type RequestFacts } from '../decision/decide.js';
import type { MirrorStateService } from '../mirrors/state.js';
import { ADMIN_PATHS, adminRouter } from './admin.js';
import type { RedirectorMetrics } from './metrics.js';
import { ociErrorBody } from './oci-error.js';
import { respond } from './respond.js';

export interface AppDeps {
  holder: ConfigHolder;
  state: MirrorStateService;
  metrics: RedirectorMetrics;
  /** One JSON line per request, for `report`; omit to log nothing. */
  accessLog?: Logger;
  logger?: Logger;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = false; // X-Forwarded-For is believed only from configured proxies, by decide().
  const admin = adminRouter(deps.holder, deps.metrics).routes();

  app.use(async (ctx, next) => {
    if (ADMIN_PATHS.has(ctx.path)) return admin(ctx as Parameters<typeof admin>[0], next);
    const started = performance.now();
    const decision = await decideWithChecks(requestFacts(ctx), deps);
    const isOci = ctx.path === '/v2' || ctx.path.startsWith('/v2/');
    respond(ctx, decision, isOci);
    record(ctx, decision, isOci, started, deps);
  });

  app.on('error', (error: Error, ctx?: Context) => {
    deps.logger?.error({ err: error, path: ctx?.path }, 'request failed');
  });
  // Koa's default error answer is text; clients of this service expect the OCI JSON shape.
  app.context.onerror = function onerror(this: Context, error: (Error & { status?: number }) | null) {
    if (error === null) return;
    this.app.emit('error', error, this);
    if (this.headerSent || !this.writable) return;
    const status = error.status && error.status < 500 ? error.status : 500;
    this.res.statusCode = status;
    this.res.setHeader('Content-Type', 'application/json');
    this.res.end(JSON.stringify(ociErrorBody(status === 500 ? 'INTERNAL' : 'BAD_REQUEST', status === 500 ? 'internal error' : error.message)));
  };
  return app;
}

function requestFacts(ctx: Context): RequestFacts {
  const url = ctx.req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: ctx.method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    peerAddress: ctx.req.socket.remoteAddress ?? '',
    forwardedFor: ctx.get('X-Forwarded-For') || undefined,
  };
}

/** Decides; if the decision needs availability facts, waits for them (bounded) and decides again. */
export async function decideWithChecks(facts: RequestFacts, deps: Pick<AppDeps, 'holder' | 'state'>): Promise<Decision> {
  // One config for the whole request, even if a reload lands while checks run.
  const config = deps.holder.current;
  const first = decide(facts, config, deps.state);
  if (first.kind !== 'check') return first;
  await deps.state.ensureChecked(first.checks, config.checkTimeoutMs);
  return decide({ ...facts, checksDone: true }, config, deps.state);
}

function record(ctx: Context, decision: Decision, isOci: boolean, started: number, deps: AppDeps): void {
  const mirror = decision.kind === 'redirect' ? decision.mirror.name : '';
  const region = decision.kind === 'redirect' ? decision.region : '';
  deps.metrics.requests.inc({ type: isOci ? 'oci' : 'binary', status: String(ctx.status), mirror, region });
  if (!deps.accessLog) return;
  const client = decision.kind === 'redirect' ? decision.client : decision.kind === 'error' ? decision.client : undefined;
  deps.accessLog.info({
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    ip: client?.ip.text ?? ctx.req.socket.remoteAddress,
    country: client?.country,
    continent: client?.continent,
    cloud: client?.cloud,
    mirror: mirror || undefined,
    region: region || undefined,
    ms: Math.round((performance.now() - started) * 1000) / 1000,
    ua: ctx.get('User-Agent') || undefined,
  });
}
