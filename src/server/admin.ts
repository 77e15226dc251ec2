// Operator endpoints: liveness, readiness, metrics. Kept off the redirect hot path: the server
// checks isAdminPath() first and hands only these to the Koa app.
import Router from '@koa/router';
import type { ConfigHolder } from '../config/config-holder.js';
import type { MirrorStateService } from '../mirrors/state.js';
import type { RedirectorMetrics } from './metrics.js';
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
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Ready means a valid config and the GeoIP data are loaded: a server never starts without them.
  router.get('/readyz', (ctx) => {
    const config = holder.current;
    ctx.body = {
      status: 'ready',
      config: config.file,
      configLoadedAt: config.loadedAt.toISOString(),
      geoip: { source: config.geo.geoip.source, built: config.geo.geoip.buildDate.toISOString() },
      cloudRegions: config.geo.cloud.regions.size,
      routes: config.binaryRoutes.length + config.ociRoutes.length,
    };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
