// One access-log line to a typed entry, or the reason it is not one. The report must survive
// whatever a log shipper, a crash mid-write or a hand edit leaves in a file, so nothing here
// throws: a bad line becomes a reason the CLI counts and shows with its line number.
import type { AccessLogEntry } from '../server/access-log.js';

export type ParsedLine = { ok: true; entry: AccessLogEntry } | { ok: false; reason: string };

export function parseLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  const o = value as Record<string, unknown>;
  const time = toEpochMs(o.time);
  if (time === undefined) return { ok: false, reason: 'time is not epoch milliseconds or an ISO date' };
  if (typeof o.method !== 'string') return { ok: false, reason: 'method is not a string' };
  if (typeof o.path !== 'string') return { ok: false, reason: 'path is not a string' };
  if (typeof o.status !== 'number' || !Number.isInteger(o.status) || o.status < 100 || o.status > 599) return { ok: false, reason: 'status is not an HTTP status' };
  if (typeof o.ms !== 'number' || !(o.ms >= 0)) return { ok: false, reason: 'ms is not a non-negative number' };
  if (o.bytes !== undefined && o.bytes !== null && (typeof o.bytes !== 'number' || !(o.bytes >= 0))) return { ok: false, reason: 'bytes is not a non-negative number' };
  for (const key of ['ip', 'country', 'continent', 'cloud', 'mirror', 'region', 'ua'] as const) {
    if (o[key] !== undefined && o[key] !== null && typeof o[key] !== 'string') return { ok: false, reason: `${key} is not a string` };
  }
  return {
    ok: true,
    entry: {
      time,
      method: o.method,
      path: o.path,
      status: o.status,
      ip: str(o.ip) ?? '',
      country: str(o.country),
      continent: str(o.continent),
      cloud: str(o.cloud),
      mirror: str(o.mirror),
      region: str(o.region),
      ms: o.ms,
      bytes: typeof o.bytes === 'number' ? o.bytes : undefined,
      ua: str(o.ua),
    },
  };
}

/** The redirector writes epoch ms; ISO strings are accepted for logs re-shipped by other tools. */
function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}

/** Empty strings are as good as absent (an unknown country is not a country named ""). */
function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The kind of request, from its path (the log has no route field): the OCI endpoints by name,
 * Metalink documents, and everything else on binary routes.
 */
export function routeType(path: string): string {
  if (path === '/v2' || path === '/v2/') return 'oci-base';
  if (path.startsWith('/v2/')) {
    if (path.includes('/manifests/')) return 'oci-manifest';
    if (path.includes('/blobs/')) return 'oci-blob';
    if (path.endsWith('/tags/list')) return 'oci-tags';
    if (path.includes('/referrers/')) return 'oci-referrers';
    return 'oci-other';
  }
  if (path.endsWith('.meta4')) return 'metalink';
  return 'binary';
}
