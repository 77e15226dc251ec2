// Turns a decision into an HTTP answer, written straight to Node's response: this is the hot
// path, so headers go out in one writeHead and nothing is buffered or wrapped.
import type { ServerResponse } from 'node:http';
import type { Decision } from '../decision/decide.js';
import type { ClientLocation } from '../geo/location.js';
import { metalink, mirrorListHtml, mirrorListJson, wantsHtml } from './mirror-list.js';
import { ociErrorBody } from './oci-error.js';

const API_VERSION_HEADER = 'Docker-Distribution-Api-Version';

/** `debug`: the client asked for the reasons (`X-Artifact-Debug: 1`). */
export function respond(res: ServerResponse, decision: Decision, isOci: boolean, accept?: string, debug = false): void {
  const headers: Record<string, string> = isOci ? { [API_VERSION_HEADER]: 'registry/2.0' } : {};
  switch (decision.kind) {
    case 'v2-base':
      headers['Content-Type'] = 'application/json';
      res.writeHead(200, headers).end('{}');
      return;
    case 'redirect': {
      // A flat [name, value, ...] list: Node writes it without building a header map first.
      const list: string[] = isOci ? [API_VERSION_HEADER, 'registry/2.0'] : [];
      list.push(
        'Location',
        decision.location,
        // Per-client answers: a shared cache must not hand one region's redirect to everyone.
        'Cache-Control',
        'private, max-age=0',
        // The one debug header every answer keeps: short, and what an operator looks for first.
        'X-Artifact-Mirror',
        decision.mirror.name,
        'Content-Length',
        '0',
      );
      // Why this mirror: no client reads these, and they were most of an answer's bytes
      // (docs/deployment.md), so only on request (`X-Artifact-Debug: 1`); `explain` and the
      // status page say the same.
      if (debug) {
        list.push('X-Artifact-Region', decision.region, 'X-Artifact-Client', describeClient(decision.client));
        // With every mirror down the default is chosen anyway: it was not passed over, so not listed.
        let skipped = '';
        for (const v of decision.verdicts) if (v.outcome === 'skipped' && v.mirror !== decision.mirror.name) skipped += `${skipped ? ', ' : ''}${v.mirror} (${v.reason})`;
        if (skipped) list.push('X-Artifact-Skipped', skipped);
      }
      // RFC 6249: the next best mirrors, so a client can fail over without asking again. Metalink
      // clients (aria2) read it on binaries; registry clients never do, so not on /v2/ answers.
      if (decision.alternatives.length > 0 && (!isOci || debug)) {
        const link = decision.alternatives.map((a, i) => `<${a.url}>; rel=duplicate; pri=${i + 1}`).join(', ');
        list.push('Link', link);
      }
      res.writeHead(decision.status, list).end();
      return;
    }
    case 'error': {
      if (decision.retryAfterSeconds) headers['Retry-After'] = String(decision.retryAfterSeconds);
      if (decision.client) headers['X-Artifact-Client'] = describeClient(decision.client);
      headers['Content-Type'] = 'application/json';
      const body = JSON.stringify(ociErrorBody(decision.code, decision.message, decision.verdicts ? { skipped: decision.verdicts } : undefined));
      headers['Content-Length'] = String(Buffer.byteLength(body));
      res.writeHead(decision.status, headers).end(body);
      return;
    }
    case 'mirrorlist': {
      const [type, body] =
        decision.format === 'metalink'
          ? ['application/metalink4+xml', metalink(decision, new Date())]
          : wantsHtml(accept)
            ? ['text/html; charset=utf-8', mirrorListHtml(decision)]
            : ['application/json', mirrorListJson(decision)];
      headers['Content-Type'] = type;
      headers['Cache-Control'] = 'private, max-age=0';
      headers['Vary'] = 'Accept';
      headers['X-Artifact-Client'] = describeClient(decision.client);
      headers['Content-Length'] = String(Buffer.byteLength(body));
      res.writeHead(200, headers).end(body);
      return;
    }
    case 'check':
      throw new Error('respond() needs a final decision; run the availability checks first');
  }
}

export function respondInternalError(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(ociErrorBody('INTERNAL', 'internal error'));
  res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
}

function describeClient(client: ClientLocation): string {
  let text = `ip=${client.ip.text}`;
  if (client.country) text += `; country=${client.country}`;
  if (client.continent) text += `; continent=${client.continent}`;
  if (client.cloud) text += `; cloud=${client.cloud}`;
  return text;
}
