// Issue 8: a location that cannot be connected to is marked unreachable once per run, and its
// other items are not tried. Without this, every digest of every destination paid the full retry
// loop (the client's and the observer's, nested): the registry.k8s.io tree took ~1 h 50 min with
// no network just to say "unreachable".
//
// Granularity: the network endpoint, because a connection-level failure (refused, DNS, timeout,
// TLS) is a property of the endpoint, never of one repository or folder behind it. For
// registries that is the host (with port), shared by every repository and project there; for
// s3:// and gs:// the bucket (virtual-host addressing gives each bucket its own DNS name and
// certificate). An HTTP answer (403, 404, 5xx) proves the endpoint is reachable and stays an
// error of that one location.
import { errorMessage } from '../util/error-message.js';
import { withRetry, type RetryOptions } from '../net/retry.js';

/** Error codes of a connection that could not be made or kept (Node, undici, the AWS SDK). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** True for refused, DNS, timeout and TLS failures: nothing was answered by the endpoint. */
export function isConnectionError(error: unknown): boolean {
  for (let e = error as { code?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (CONNECTION_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return true;
    // oci/http.ts's TimeoutError (no response within --timeout) and the AWS SDK's.
    if (e.name === 'TimeoutError' || e.name === 'ConnectTimeoutError') return true;
  }
  return false;
}

/** Thrown for an item of an endpoint already known unreachable in this run: nothing was sent. */
export class EndpointDownError extends Error {
  constructor(
    readonly endpoint: string,
    reason?: string,
  ) {
    super(`${endpoint} is unreachable${reason ? ` (${reason})` : ' (see above)'}; not tried again in this run`);
    this.name = 'EndpointDownError';
  }
}

export interface DownEndpoint {
  /** The first connection-level error, as text. */
  reason: string;
  /** Observation calls for it that failed or were not made because it was down. */
  items: number;
}

/** The endpoint of a registry location (`host[:port]/path`) or file store base (`s3://bucket/…`). */
export function endpointOf(location: string): string {
  const url = /^([a-z0-9+.-]+:\/\/[^/]*)/i.exec(location);
  if (url) return url[1] as string;
  return location.split('/')[0] as string;
}

export class Reachability {
  readonly down = new Map<string, DownEndpoint>();

  /**
   * `fn` with retries, unless `location`'s endpoint is already down (then EndpointDownError at
   * once). A connection-level failure marks the endpoint down and is not retried here: the
   * clients have retried it already; items in flight at that moment stop at their next attempt.
   * `location` may list several (a copy reads staging and writes a destination): each is
   * checked, and a failure is put on the one the error names (its host:port or host appears in
   * the error), else on the first.
   */
  async call<T>(location: string | readonly string[], fn: () => Promise<T>, retry: RetryOptions, opts: { detail?: boolean } = {}): Promise<T> {
    const endpoints = (typeof location === 'string' ? [location] : location).map(endpointOf);
    const check = () => {
      for (const endpoint of endpoints) {
        const d = this.down.get(endpoint);
        if (d) {
          d.items++;
          throw new EndpointDownError(endpoint, opts.detail ? d.reason : undefined);
        }
      }
    };
    check();
    return withRetry(async () => {
      check();
      try {
        return await fn();
      } catch (e) {
        if (isConnectionError(e)) {
          const reason = withCause(e);
          const named = (x: string) => {
            const host = x.replace(/^[a-z0-9+.-]+:\/\//i, '');
            return host !== '' && reason.includes(host);
          };
          const endpoint = endpoints.find(named) ?? (endpoints[0] as string);
          const d = this.down.get(endpoint);
          if (d) d.items++;
          else this.down.set(endpoint, { reason, items: 1 });
          throw new EndpointDownError(endpoint, opts.detail ? reason : undefined);
        }
        throw e;
      }
    }, retry);
  }
}

/** "fetch failed" says nothing: add the cause's message and code (ECONNREFUSED 127.0.0.1:9). */
function withCause(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause;
  return cause === undefined ? errorMessage(e) : `${errorMessage(e)}: ${errorMessage(cause)}`;
}
