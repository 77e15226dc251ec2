// Whether a mirror holds an object, learned by HEAD and kept in a bounded lru-cache, so the
// routing decision reads it in microseconds (`peek`, which changes nothing: not the LRU order, not
// the counters) and the request path waits for a HEAD only when nothing at all is known.
//
// Freshness is tracked here (freshUntil / staleUntil on each entry, from the injected clock)
// rather than with lru-cache's own TTLs: lru-cache only bounds the count and the size, which keeps
// expiry deterministic under a fake clock and lets an expired entry still be served (stale) while
// its refresh runs.
//
// A "present" answer is never used once it is older than `verifyMs` (counted from when its HEAD
// was sent): past that it is gone, so the request path re-checks it within its bounded wait
// before sending anyone there. A mirror that loses an object thus gets no client for it after
// verifyMs. Within that bound, a present answer is fresh for `immutablePresentMs` / `tagPresentMs`
// and then served while one background refresh runs (stale-while-revalidate), so hot objects are
// re-checked before the bound and requests rarely wait.
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../net/clock.js';
import { abortControllerForMany, keepAliveHead, timedRequest, type FetchLike } from '../net/http.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/reference.js';
import type { Availability, AvailabilityCheck, CacheReads, ObjectKind } from './state-view.js';

export interface AvailabilityTtls {
  /** Present, content-addressed (blob, binary, manifest-digest); capped by verifyMs. */
  immutablePresentMs: number;
  /** Present, manifest by tag: must stay short (the tag may move). */
  tagPresentMs: number;
  /** 404/410: short, since a lagging mirror catches up. */
  absentMs: number;
  /** Errors: very short; the mirror gets another chance soon. */
  errorMs: number;
  /**
   * How long past expiry an entry is still served while its refresh runs (never for manifest-tag);
   * a present answer only until verifyMs.
   */
  staleMs: number;
  /** The oldest a present answer may be and still be used: past it, it is re-checked first. */
  verifyMs: number;
}

const DEFAULT_TTLS: AvailabilityTtls = {
  immutablePresentMs: 30_000,
  tagPresentMs: 15_000,
  absentMs: 30_000,
  errorMs: 5_000,
  staleMs: 10 * 60_000,
  verifyMs: 60_000,
};

/** What a purge drops: everything, one mirror's answers, or one object (on one mirror or all). */
export interface PurgeScope {
  mirror?: string;
  key?: string;
}

/** A completed check: what was asked (so it can be repeated, as a breaker's trial) and the answer. */
export interface CheckEvent extends Omit<AvailabilityCheck, 'timeoutMs'> {
  availability: Availability;
  /**
   * True when the mirror itself failed (timeout, connection error, 5xx, 429): evidence for the
   * breaker. A 404 or a 403 is an answer from a working mirror, so it is false there.
   */
  mirrorFailed: boolean;
}

export interface AvailabilityCacheOptions {
  clock?: Clock;
  fetch?: FetchLike;
  /** Maximum number of entries; default 100 000. */
  maxEntries?: number;
  /** Maximum approximate size of all entries in bytes; default 32 MiB. */
  maxSizeBytes?: number;
  /** HEAD timeout when a check does not give one; default 2 000 ms. */
  timeoutMs?: number;
  ttls?: Partial<AvailabilityTtls>;
  /** Called after every completed check (MirrorState feeds its breakers from this). */
  onCheck?: (event: CheckEvent) => void;
}

export interface CheckOptions {
  kind: ObjectKind;
  timeoutMs?: number;
}

export interface AvailabilityStats {
  entries: number;
  /** Approximate bytes held, as counted against maxSizeBytes. */
  sizeBytes: number;
  hits: number;
  staleHits: number;
  misses: number;
  headsSent: number;
  inflight: number;
}

interface Entry {
  availability: Availability;
  url: string;
  kind: ObjectKind;
  freshUntil: number;
  staleUntil: number;
}

/**
 * A registry answers a manifest request only in a media type the client accepts: without this,
 * distribution answers 404 for an OCI index or manifest and the mirror would look empty.
 */
const MANIFEST_ACCEPT = {
  // Old schema-1 manifests too: a mirror serving only those still holds the image.
  Accept: [...MANIFEST_MEDIA_TYPES, 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json'].join(', '),
};

// Per-entry heap beyond the characters of the key and URL: lru-cache's slots, the entry and
// availability objects, the string headers. Measured on Node 20 (heapUsed after GC, 100,000
// blob entries): 633-681 bytes per entry, of which 286 are the strings' characters; 200 here made
// the cache hold 1.7x the bytes it was allowed. Rounded up, so maxMegabytes is a real bound.
const ENTRY_OVERHEAD_BYTES = 450;

export class AvailabilityCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Availability>>();
  /** Every check running, also those a purge detached from `inflight` (close() waits for them). */
  private readonly running = new Set<Promise<Availability>>();
  /** Bumped by every purge: a check sent before one that covers it does not cache its answer. */
  private generation = 0;
  /** Purges while checks run (emptied when none does), so a check knows whether one covered it. */
  private purges: { generation: number; scope: PurgeScope }[] = [];
  private readonly clock: Clock;
  private readonly fetchFn: FetchLike;
  private readonly ttls: AvailabilityTtls;
  private readonly timeoutMs: number;
  private lifetime = abortControllerForMany();
  private counters = { hits: 0, staleHits: 0, misses: 0, headsSent: 0 };
  /**
   * The last object key joined with each mirror's name, for the reads: a decision asks about one
   * object on a mirror several times (availability, staleness, size), and joining the two once
   * spares a string build and its hashing on every other ask.
   */
  private readonly lastJoined = new Map<string, { key: string; joined: string }>();

  constructor(private readonly options: AvailabilityCacheOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.fetchFn = options.fetch ?? keepAliveHead;
    this.ttls = { ...DEFAULT_TTLS, ...options.ttls };
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.lru = new LRUCache<string, Entry>({
      max: options.maxEntries ?? 100_000,
      maxSize: options.maxSizeBytes ?? 32 * 1024 * 1024,
      // One byte per character: V8 stores ASCII strings (URLs, digests) one byte per character.
      sizeCalculation: (entry, key) => key.length + entry.url.length + ENTRY_OVERHEAD_BYTES + (entry.availability.state === 'present' && entry.availability.digest ? 90 : 0),
    });
  }

  /**
   * What is known, synchronously, for the decision: a fresh or a stale entry (a manifest by tag is
   * never stale: expired is gone). Reads only: no LRU order moved, nothing counted, no refresh
   * started; the server counts reads (`countReads`) and refreshes stale entries after answering.
   */
  peek(mirror: string, key: string): Availability | undefined {
    const entry = this.lru.peek(this.readKey(mirror, key));
    return entry !== undefined && this.clock.now() < entry.staleUntil ? entry.availability : undefined;
  }

  /** keyOf(mirror, key), reusing the string the last read of this object on this mirror built. */
  private readKey(mirror: string, key: string): string {
    const last = this.lastJoined.get(mirror);
    if (last?.key === key) return last.joined;
    const joined = keyOf(mirror, key);
    if (last) {
      last.key = key;
      last.joined = joined;
    } else {
      // One entry per mirror asked about: names come from the config, far fewer than the bound.
      if (this.lastJoined.size >= MAX_JOINED_MIRRORS) this.lastJoined.clear();
      this.lastJoined.set(mirror, { key, joined });
    }
    return joined;
  }

  /** Adds one request's reads to the hit counters. */
  countReads(reads: CacheReads): void {
    this.counters.hits += reads.hits;
    this.counters.staleHits += reads.staleHits;
    this.counters.misses += reads.misses;
  }

  /** True when a fresh (not stale) entry exists; does not count as a hit or miss. */
  isFresh(mirror: string, key: string): boolean {
    const entry = this.lru.peek(this.readKey(mirror, key));
    return entry !== undefined && this.clock.now() < entry.freshUntil;
  }

  /** True when `peek` would return something (fresh or stale). */
  has(mirror: string, key: string): boolean {
    return this.peek(mirror, key) !== undefined;
  }

  /** True when `peek` returns an entry past its fresh time: served, and due for a refresh. */
  isStale(mirror: string, key: string): boolean {
    const entry = this.lru.peek(this.readKey(mirror, key));
    const now = this.clock.now();
    return entry !== undefined && now >= entry.freshUntil && now < entry.staleUntil;
  }

  /**
   * HEADs `url` now and caches the answer. Concurrent calls for the same (mirror, key) share one
   * request. Never rejects: failures are an `error` availability.
   */
  check(mirror: string, key: string, url: string, options: CheckOptions): Promise<Availability> {
    const cacheKey = keyOf(mirror, key);
    const running = this.inflight.get(cacheKey);
    if (running) return running;
    const promise: Promise<Availability> = this.head(mirror, key, url, options).finally(() => {
      if (this.inflight.get(cacheKey) === promise) this.inflight.delete(cacheKey);
      this.running.delete(promise);
      if (this.running.size === 0) this.purges = [];
    });
    this.inflight.set(cacheKey, promise);
    this.running.add(promise);
    return promise;
  }

  /** Aborts checks in flight (their results are not cached) and resolves when they have settled. */
  async close(): Promise<void> {
    const ending = this.lifetime;
    this.lifetime = abortControllerForMany();
    ending.abort();
    await Promise.all(this.running);
  }

  /**
   * Drops cached answers: all of them, a mirror's, or one object's (on one mirror, or on every
   * mirror when no mirror is named). Checks already sent do not cache their answers, and the
   * next request starts a new one. Returns how many entries were dropped.
   */
  purge(scope: PurgeScope = {}): number {
    this.generation++;
    if (this.running.size > 0) this.purges.push({ generation: this.generation, scope });
    const matches = (cacheKey: string) => covers(scope, ...splitKey(cacheKey));
    for (const cacheKey of [...this.inflight.keys()]) if (matches(cacheKey)) this.inflight.delete(cacheKey);
    if (scope.mirror === undefined && scope.key === undefined) {
      const dropped = this.lru.size;
      this.lru.clear();
      return dropped;
    }
    if (scope.mirror !== undefined && scope.key !== undefined) return this.lru.delete(keyOf(scope.mirror, scope.key)) ? 1 : 0;
    let dropped = 0;
    for (const cacheKey of [...this.lru.keys()]) {
      if (matches(cacheKey)) {
        this.lru.delete(cacheKey);
        dropped++;
      }
    }
    return dropped;
  }

  stats(): AvailabilityStats {
    return { entries: this.lru.size, sizeBytes: this.lru.calculatedSize, inflight: this.inflight.size, ...this.counters };
  }

  private async head(mirror: string, key: string, url: string, options: CheckOptions): Promise<Availability> {
    const signal = this.lifetime.signal;
    const generation = this.generation;
    // Trust is counted from when the HEAD was sent: the mirror may have lost the object since.
    const sentAt = this.clock.now();
    this.counters.headsSent++;
    const headers = options.kind === 'manifest-tag' || options.kind === 'manifest-digest' ? MANIFEST_ACCEPT : undefined;
    const result = await timedRequest(this.fetchFn, this.clock, url, 'HEAD', options.timeoutMs ?? this.timeoutMs, signal, headers);
    const checkedAt = this.clock.now();
    let availability: Availability;
    let mirrorFailed = false;
    if ('error' in result) {
      // Reasons never hold the URL: its path came from a client, and a reason reaches other
      // clients (X-Artifact-Skipped, mirror lists, a breaker's reason for the whole mirror).
      availability = { state: 'error', reason: `HEAD: ${result.error.split(url).join('<url>')}`, checkedAt };
      mirrorFailed = true;
    } else {
      ({ availability, mirrorFailed } = classify(result.status, result.headers, options.kind, checkedAt));
    }
    if (signal.aborted) return availability; // shutting down: neither cache nor blame the mirror
    // A purge of this object since the HEAD was sent: its answer may predate what the purge was for.
    const purged = generation !== this.generation && this.purges.some((p) => p.generation > generation && covers(p.scope, mirror, key));
    if (!purged) this.store(mirror, key, url, options.kind, availability, sentAt);
    this.options.onCheck?.({ mirror, key, url, kind: options.kind, availability, mirrorFailed });
    return availability;
  }

  private store(mirror: string, key: string, url: string, kind: ObjectKind, availability: Availability, sentAt: number): void {
    const ttl = availability.state === 'present' ? (kind === 'manifest-tag' ? this.ttls.tagPresentMs : this.ttls.immutablePresentMs) : availability.state === 'absent' ? this.ttls.absentMs : this.ttls.errorMs;
    if (availability.state === 'present') {
      // Never used past the verify bound; within it, fresh and then served while refreshed.
      const verifyUntil = sentAt + this.ttls.verifyMs;
      const freshUntil = Math.min(sentAt + ttl, verifyUntil);
      // A tag may have moved: an expired answer about it is not served at all.
      const staleUntil = kind === 'manifest-tag' ? freshUntil : Math.min(freshUntil + this.ttls.staleMs, verifyUntil);
      this.lru.set(keyOf(mirror, key), { availability, url, kind, freshUntil, staleUntil });
      return;
    }
    const freshUntil = availability.checkedAt + ttl;
    const staleUntil = kind === 'manifest-tag' ? freshUntil : freshUntil + this.ttls.staleMs;
    this.lru.set(keyOf(mirror, key), { availability, url, kind, freshUntil, staleUntil });
  }
}

/**
 * The meaning of a HEAD status.
 *
 * Redirects are not followed. A registry answers a blob HEAD with 307 to its storage backend
 * (S3, GCS) only when it has the blob — a missing blob is a 404 from the registry itself — so a
 * 3xx with a Location is "present" for blobs. Following it would HEAD a signed storage URL, cost
 * a second round trip on the request path and prove nothing more. For other kinds a redirect is
 * not evidence of the object (nginx redirects a directory, a bucket front may redirect anything),
 * so it is an error for this object, without blaming the mirror.
 */
function classify(status: number, headers: { get(name: string): string | null }, kind: ObjectKind, checkedAt: number): { availability: Availability; mirrorFailed: boolean } {
  if (status >= 200 && status < 300) {
    const availability: Availability = { state: 'present', checkedAt };
    const length = Number(headers.get('content-length') ?? Number.NaN);
    if (Number.isSafeInteger(length) && length >= 0) availability.contentLength = length;
    // What a tag points at on this mirror: routing by proof compares it with the promoted digest (src/trust/).
    const digest = kind === 'manifest-tag' ? headers.get('docker-content-digest') : null;
    if (digest && /^sha256:[a-f0-9]{64}$/.test(digest)) availability.digest = digest;
    return { availability, mirrorFailed: false };
  }
  if (status >= 300 && status < 400 && kind === 'blob' && headers.get('location')) {
    return { availability: { state: 'present', checkedAt }, mirrorFailed: false };
  }
  if (status === 404 || status === 410) {
    return { availability: { state: 'absent', status, checkedAt }, mirrorFailed: false };
  }
  const mirrorFailed = status >= 500 || status === 429;
  return { availability: { state: 'error', reason: `HEAD: HTTP ${status}`, checkedAt }, mirrorFailed };
}

/** Mirrors whose last joined key is kept: far more than a config names. */
const MAX_JOINED_MIRRORS = 1024;

// A NUL cannot occur in a mirror name or an object key, so the pair maps to one string uniquely.
function keyOf(mirror: string, key: string): string {
  return `${mirror}\u0000${key}`;
}

function covers(scope: PurgeScope, mirror: string, key: string): boolean {
  return (scope.mirror === undefined || mirror === scope.mirror) && (scope.key === undefined || key === scope.key);
}

function splitKey(cacheKey: string): [string, string] {
  const at = cacheKey.indexOf('\u0000');
  return [cacheKey.slice(0, at), cacheKey.slice(at + 1)];
}
