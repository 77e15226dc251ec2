// The read-only view of mirror state that the routing decision consults. The prober and the
// availability cache own the state and write it; the decision only reads it (no LRU order moved,
// no hit counted, no check started), so it is a pure function that `explain`, the tests and the
// bench can replay. What the decision wants done comes back in the decision (`refresh`, `reads`)
// and the server does it, through MirrorStateService, after answering.
import type { TrustView } from '../trust/view.js';

export interface MirrorHealth {
  /** Whether requests may be sent to this mirror now. */
  up: boolean;
  /** Why the mirror is down (last probe error, breaker tripped...), for explain and debug headers. */
  reason?: string;
  /** Smoothed probe latency in milliseconds, when probes have run. */
  latencyMs?: number;
  /** Milliseconds since epoch of the last state change. */
  since?: number;
  /**
   * Down, but due for its one trial check (an unprobed mirror's breaker past its cooldown): the
   * check to run, after answering; its success brings the mirror back.
   */
  trial?: AvailabilityCheck;
}

/** What is known about one object on one mirror. */
export type Availability =
  /** `digest`: a manifest by tag's Docker-Content-Digest, when the mirror sent one. */
  | { state: 'present'; contentLength?: number; digest?: string; checkedAt: number }
  | { state: 'absent'; status: number; checkedAt: number }
  /** The check failed (timeout, connection refused, 5xx): the mirror cannot be trusted with it now. */
  | { state: 'error'; reason: string; checkedAt: number };

/**
 * What kind of object a key names; it sets how long an answer may be trusted.
 * - blob, manifest-digest: content-addressed, immutable once present.
 * - binary: a release file under a versioned path, treated as immutable once present.
 * - manifest-tag: a tag can move at any time, so "present" is trusted only briefly.
 */
export type ObjectKind = 'blob' | 'binary' | 'manifest-digest' | 'manifest-tag';

/** One availability check: a HEAD of `url` on `mirror`, whose answer is cached under `key`. */
export interface AvailabilityCheck {
  mirror: string;
  /** The object's identity on that mirror, e.g. "blob:library/x@sha256:..." or "file:/release/v1/kubectl". */
  key: string;
  /** The URL to HEAD on that mirror (without the client's query string). */
  url: string;
  kind: ObjectKind;
  /** HEAD timeout; it may outlast the deadline (the answer still fills the cache). */
  timeoutMs?: number;
}

export interface MirrorStateView {
  /** Health of a mirror; a mirror never probed is reported as up (probing is opt-in per mirror). */
  health(mirror: string): MirrorHealth;
  /** The cached availability of `objectKey` on `mirror` (fresh or stale), or undefined when nothing usable is cached. */
  availability(mirror: string, objectKey: string): Availability | undefined;
  /** Mirror trust (src/trust/): audit findings, ownership, expected content; absent = not configured. */
  trust?: TrustView;
  /** True when the cached answer is past its fresh time but still served: the decision asks for a refresh. Absent: never. */
  isStale?(mirror: string, objectKey: string): boolean;
}

/** What one decision read from the availability cache, each (mirror, object) once: for the hit counters. */
export interface CacheReads {
  hits: number;
  staleHits: number;
  misses: number;
}

/** Every mirror up, nothing cached: the state when health checking is off. */
export const ALL_UP: MirrorStateView = {
  health: () => ({ up: true }),
  availability: () => undefined,
};

/** The state view plus what the request path asks of it: check these objects within a bound, and after answering, count and refresh. */
export interface MirrorStateService extends MirrorStateView {
  /** Figures for the status page and metrics, when the state keeps any. */
  stats?(): object;
  /** Drops cached availability answers (all, one mirror's, one object's); returns how many. */
  purge?(scope: { mirror?: string; key?: string }): number;
  /** Runs the checks (sharing any already in flight); resolves by `deadlineMs` even if some are still running. */
  ensureChecked(checks: readonly AvailabilityCheck[], deadlineMs: number): Promise<void>;
  /** Counts a decision's cache reads (once per request). */
  countReads(reads: CacheReads): void;
  /** Starts, in the background, the refreshes and trial checks a decision asked for; never waits or throws. */
  refresh(checks: readonly AvailabilityCheck[]): void;
}

/** No health checking and no availability cache: every mirror is taken to be up and complete. */
export const NO_CHECKS: MirrorStateService = { ...ALL_UP, ensureChecked: async () => undefined, countReads: () => undefined, refresh: () => undefined };
