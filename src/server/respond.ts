// Turns a decision into an HTTP answer. The only place that knows header names.
import type { Context } from 'koa';
import type { Decision } from '../decision/decide.js';
import type { ClientLocation } from '../geo/location.js';
import { ociErrorBody } from './oci-error.js';

export const API_VERSION_HEADER = 'Docker-Distribution-Api-Version';

export function respond(ctx: Context, decision: Decision, isOci: boolean): void {
  if (isOci) ctx.set(API_VERSION_HEADER, 'registry/2.0');
  switch (decision.kind) {
    case 'v2-base':
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = '{}';
      return;
    case 'redirect': {
      ctx.status = decision.status;
      ctx.set('Location', decision.location);
      // Per-client answers: a shared cache must not hand one region's redirect to everyone.
      ctx.set('Cache-Control', 'private, max-age=0');
      ctx.set('X-Artifact-Mirror', decision.mirror.name);
      ctx.set('X-Artifact-Region', decision.region);
      ctx.set('X-Artifact-Client', describeClient(decision.client));
      const skipped = decision.verdicts.filter((v) => v.outcome === 'skipped');
      if (skipped.length > 0) ctx.set('X-Artifact-Skipped', skipped.map((v) => `${v.mirror} (${v.reason})`).join(', '));
      if (decision.alternatives.length > 0) {
        // RFC 6249: the next best mirrors, so a client can fail over without asking again.
        ctx.set('Link', decision.alternatives.map((a, i) => `<${a.url}>; rel=duplicate; pri=${i + 1}`).join(', '));
      }
      return;
    }
    case 'error':
      ctx.status = decision.status;
      if (decision.retryAfterSeconds) ctx.set('Retry-After', String(decision.retryAfterSeconds));
      if (decision.client) ctx.set('X-Artifact-Client', describeClient(decision.client));
      ctx.type = 'application/json';
      ctx.body = ociErrorBody(decision.code, decision.message, decision.verdicts ? { skipped: decision.verdicts } : undefined);
      return;
    case 'check':
      throw new Error('respond() needs a final decision; run the availability checks first');
  }
}

export function describeClient(client: ClientLocation): string {
  const parts = [`ip=${client.ip.text}`];
  if (client.country) parts.push(`country=${client.country}`);
  if (client.continent) parts.push(`continent=${client.continent}`);
  if (client.cloud) parts.push(`cloud=${client.cloud}`);
  return parts.join('; ');
}
