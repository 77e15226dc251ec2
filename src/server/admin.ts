// Operator endpoints: liveness, readiness, metrics. Kept off the redirect hot path: the server
// checks isAdminPath() first and hands only these to the Koa app.
import Router from '@koa/router';
import type { Context } from 'koa';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConfigHolder } from '../config/config-holder.js';
import { availabilityKeyOf } from '../decision/decide.js';
import type { MirrorStateService } from '../mirrors/state-view.js';
import type { RedirectorMetrics } from './metrics.js';
import { ociErrorBody } from './oci-error.js';
import { statusHtml, statusReport } from './status-page.js';

const ADMIN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Operator paths; `/-/` is reserved for pages (status, mirror lists) so no route can shadow them. */
export function isAdminPath(path: string): boolean {
  return ADMIN_PATHS.has(path) || path.startsWith('/-/');
}

export function adminRouter(holder: ConfigHolder, metrics: RedirectorMetrics, state: MirrorStateService): Router {
  const router = new Router();
  const report = () => statusReport(holder.current, state, state.stats?.() as Record<string, number> | undefined);
  router.get('/-/status', (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = statusHtml(report());
  });
  router.get('/-/status.json', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = report();
  });
  router.post('/-/purge', (ctx) => purge(ctx, holder, metrics, state));
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Ready means a valid config and the GeoIP data are loaded: a server never starts without them.
  router.get('/readyz', (ctx) => {
    const config = holder.current;
    ctx.body = {
      status: 'ready',
      // Which process answered: under `serve --workers`, each worker has its own state.
      pid: process.pid,
      config: config.file,
      configLoadedAt: config.loadedAt.toISOString(),
      geoip: { source: config.geo.geoip.source, built: config.geo.geoip.buildDate.toISOString() },
      cloudRegions: config.geo.cloud.regions.size,
      routes: config.binaryRoutes.length + config.ociRoutes.length,
    };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await (metrics.exposition ?? (() => metrics.registry.metrics()))();
  });
  return router;
}

/**
 * POST /-/purge: drops cached availability answers, so the next request re-checks them.
 * `?mirror=NAME` one mirror's; `&path=/v2/...` or `&key=KEY` one object (on every mirror when no
 * mirror is named); nothing: everything. Allowed from loopback (and not through a proxy) or with
 * the configured bearer token.
 */
function purge(ctx: Context, holder: ConfigHolder, metrics: RedirectorMetrics, state: MirrorStateService): void {
  const config = holder.current;
  const fail = (status: number, code: string, message: string) => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = ociErrorBody(code, message);
  };
  if (!purgeAllowed(ctx, config.adminToken)) {
    return fail(
      403,
      'DENIED',
      config.adminToken ? 'POST /-/purge needs the admin bearer token (Authorization: Bearer ...) or a direct loopback connection' : 'POST /-/purge is allowed only from loopback (no admin token is configured)',
    );
  }
  const one = (name: string): string | undefined => {
    const value = ctx.query[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const mirror = one('mirror');
  const path = one('path');
  let key = one('key');
  if (mirror !== undefined && !config.mirrors.has(mirror)) return fail(404, 'NOT_FOUND', `no mirror named "${mirror}" in ${config.file}`);
  if (path !== undefined && key !== undefined) return fail(400, 'BAD_REQUEST', 'give path or key, not both');
  if (path !== undefined) {
    const found = availabilityKeyOf(path);
    if ('error' in found) return fail(400, 'BAD_REQUEST', `path: ${found.error}`);
    key = found.key;
  }
  if (key === '') return fail(400, 'BAD_REQUEST', 'key: empty');
  if (!state.purge) return fail(409, 'UNSUPPORTED', 'this redirector keeps no availability cache');
  const scope = key !== undefined ? 'object' : mirror !== undefined ? 'mirror' : 'all';
  const dropped = state.purge({ ...(mirror !== undefined && { mirror }), ...(key !== undefined && { key }) });
  metrics.availabilityPurges.inc({ scope });
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { purged: scope, ...(mirror !== undefined && { mirror }), ...(key !== undefined && { key }), dropped };
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'];

function purgeAllowed(ctx: Context, token: string | undefined): boolean {
  const authorization = ctx.get('authorization');
  if (token && authorization.startsWith('Bearer ')) return sameSecret(authorization.slice('Bearer '.length).trim(), token);
  // Loopback, and not relayed: a proxy on the same host would make every client look local.
  const peer = ctx.req.socket.remoteAddress ?? '';
  const loopback = peer === '::1' || peer.startsWith('127.') || peer.startsWith('::ffff:127.');
  return loopback && FORWARDING_HEADERS.every((name) => ctx.get(name) === '');
}

/** Constant-time comparison (of digests, so lengths never leak either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
