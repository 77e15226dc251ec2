// Pull-aware rate limits: a token bucket per client, counting manifest GETs only.
//
// registry.k8s.io limited every request per IP, blobs included, and throttled Kubernetes' own
// CI behind NAT (test-infra #32476): one pull is a manifest or two and dozens of blob requests,
// and a blob request here is a cheap redirect. Docker Hub counts manifest pulls per IPv4
// address or IPv6 /64 (one host or one customer's network can have a whole /64, so a
// per-address IPv6 limit is none at all). HEADs are not counted, as there: checking whether a
// tag moved costs a client nothing.
import { LRUCache } from 'lru-cache';
import type { CompiledRateLimit } from '../config/compiled.js';
import type { ParsedIp } from '../geo/ip.js';

export interface RateVerdict {
  allowed: boolean;
  limit: number;
  /** Whole requests left now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until one request is allowed. */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The path of a manifest request: /v2/<name>/manifests/<reference>. */
export function isManifestPath(path: string): boolean {
  const at = path.lastIndexOf('/manifests/');
  return at > 3 && path.startsWith('/v2/');
}

/** What one client is: its IPv4 address, or its IPv6 /64. */
export function clientKey(ip: ParsedIp): string {
  if (ip.version === 4) return ip.text;
  const g = ip.groups;
  return `${g[0]!.toString(16)}:${g[1]!.toString(16)}:${g[2]!.toString(16)}:${g[3]!.toString(16)}::/64`;
}

export class RateLimiter {
  private buckets: LRUCache<string, Bucket>;
  private maxClients: number;

  constructor(
    maxClients = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.maxClients = maxClients;
    this.buckets = new LRUCache({ max: maxClients });
  }

  get clients(): number {
    return this.buckets.size;
  }

  /**
   * Counts one manifest GET by `ip` under `limit`. A client on the allow list is always allowed
   * (and not tracked). A forgotten client (evicted, or after a restart) starts with a full bucket.
   */
  take(ip: ParsedIp, limit: CompiledRateLimit): RateVerdict | undefined {
    if (limit.allow.size > 0 && limit.allow.lookup(ip)) return undefined;
    if (limit.maxClients !== this.maxClients) {
      // A reload changed the size: start over (a fresh bucket is the lenient direction).
      this.maxClients = limit.maxClients;
      this.buckets = new LRUCache({ max: limit.maxClients });
    }
    const key = clientKey(ip);
    const now = this.now();
    const perMs = limit.perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: limit.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(limit.burst, bucket.tokens + (now - bucket.at) * perMs);
      bucket.at = now;
    }
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    return {
      allowed,
      limit: limit.perMinute,
      remaining: Math.floor(bucket.tokens),
      resetSeconds: Math.ceil((limit.burst - bucket.tokens) / perMs / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
    };
  }
}

/**
 * The headers of a counted request: the IETF draft's RateLimit-* (with the policy: limit per
 * 60 s window and burst) and the X-RateLimit-* that older clients and dashboards read.
 */
export function rateLimitHeaders(verdict: RateVerdict, burst: number): [string, string][] {
  const limit = String(verdict.limit);
  const remaining = String(verdict.remaining);
  const reset = String(verdict.resetSeconds);
  return [
    ['RateLimit-Limit', limit],
    ['RateLimit-Remaining', remaining],
    ['RateLimit-Reset', reset],
    ['RateLimit-Policy', `${limit};w=60;burst=${burst}`],
    ['X-RateLimit-Limit', limit],
    ['X-RateLimit-Remaining', remaining],
    ['X-RateLimit-Reset', reset],
  ];
}
