// The read-only view of mirror state that the routing decision consults. The prober and the
// availability cache own the state and write it; the decision only reads a snapshot of it, so
// the decision stays a pure function and can be replayed by `explain` and the bench.
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
}

/** What is known about one object on one mirror. */
export type Availability =
  /** `digest`: a manifest by tag's Docker-Content-Digest, when the mirror sent one. */
  | { state: 'present'; contentLength?: number; digest?: string; checkedAt: number }
  | { state: 'absent'; status: number; checkedAt: number }
  /** The check failed (timeout, connection refused, 5xx): the mirror cannot be trusted with it now. */
  | { state: 'error'; reason: string; checkedAt: number };

export interface MirrorStateView {
  /** Health of a mirror; a mirror never probed is reported as up (probing is opt-in per mirror). */
  health(mirror: string): MirrorHealth;
  /** The cached availability of `objectKey` on `mirror`, or undefined when nothing is cached. */
  availability(mirror: string, objectKey: string): Availability | undefined;
  /** Mirror trust (src/trust/): audit findings, ownership, expected content; absent = not configured. */
  trust?: TrustView;
}

/** Every mirror up, nothing cached: the state when health checking is off. */
export const ALL_UP: MirrorStateView = {
  health: () => ({ up: true }),
  availability: () => undefined,
};

/** The state view plus the one thing the request path may ask of it: check these objects, within a bound. */
export interface MirrorStateService extends MirrorStateView {
  /** Runs the checks (sharing any already in flight); resolves by `deadlineMs` even if some are still running. */
  /** Figures for the status page and metrics, when the state keeps any. */
  stats?(): object;
  /** Drops cached availability answers (all, one mirror's, one object's); returns how many. */
  purge?(scope: { mirror?: string; key?: string }): number;
  ensureChecked(checks: readonly { mirror: string; key: string; url: string; kind: 'blob' | 'binary' | 'manifest-digest' | 'manifest-tag' }[], deadlineMs: number): Promise<void>;
}

/** No health checking and no availability cache: every mirror is taken to be up and complete. */
export const NO_CHECKS: MirrorStateService = { ...ALL_UP, ensureChecked: async () => undefined };
