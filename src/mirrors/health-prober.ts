// Background health probes of mirrors, with rise/fall hysteresis so one lost probe does not flap
// a mirror in and out of rotation. Probes never run on the request path: the decision reads
// `health(name)`, a plain lookup. Clock, fetch and random are injected so tests drive rounds with
// `probeNow()` instead of sleeping.
import { systemClock, type Clock } from '../net/clock.js';
import { abortControllerForMany, timedRequest, type FetchLike } from '../net/http.js';
import type { MirrorHealth } from './state-view.js';

/** The pino methods we call; a pino Logger fits. */
export interface LoggerLike {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ProbeTarget {
  name: string;
  probeUrl: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that bring a down mirror up. */
  rise: number;
  /** Consecutive failures that take an up mirror down. */
  fall: number;
  /** State before the first probe; default up (a restart must not take every mirror out). */
  initiallyUp?: boolean;
}

export interface HealthChange {
  name: string;
  up: boolean;
  reason?: string;
  since: number;
}

export interface ProbeResult {
  name: string;
  ok: boolean;
  status?: number;
  latencyMs?: number;
  reason?: string;
}

export interface HealthProberOptions {
  clock?: Clock;
  fetch?: FetchLike;
  logger?: LoggerLike;
  /** In [0, 1); jitters probe times so probes of many mirrors (and many replicas) do not align. */
  random?: () => number;
  /** Weight of the newest sample in the smoothed latency (EWMA); default 0.3. */
  ewmaAlpha?: number;
  /** Each interval is scaled by a random factor in [1 - jitter, 1 + jitter]; default 0.1. */
  jitter?: number;
}

interface MirrorProbeState {
  target: ProbeTarget;
  up: boolean;
  since: number;
  reason?: string | undefined;
  latencyMs?: number;
  successes: number;
  failures: number;
  timer?: unknown;
  inflight?: Promise<void> | undefined;
}

export class HealthProber {
  private readonly mirrors = new Map<string, MirrorProbeState>();
  private readonly clock: Clock;
  private readonly fetchFn: FetchLike;
  private readonly random: () => number;
  private readonly alpha: number;
  private readonly jitter: number;
  private readonly changeListeners = new Set<(change: HealthChange) => void>();
  private readonly probeListeners = new Set<(result: ProbeResult) => void>();
  private running = false;
  /** Aborts in-flight probes on stop(). */
  private lifetime = abortControllerForMany();

  constructor(
    targets: readonly ProbeTarget[],
    private readonly options: HealthProberOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.fetchFn = options.fetch ?? (fetch as FetchLike);
    this.random = options.random ?? Math.random;
    this.alpha = options.ewmaAlpha ?? 0.3;
    this.jitter = options.jitter ?? 0.1;
    this.replaceMirrors(targets);
  }

  /** Health as last established; a mirror this prober does not know is up (probing is opt-in). */
  health(name: string): MirrorHealth {
    const state = this.mirrors.get(name);
    if (!state) return { up: true };
    const health: MirrorHealth = { up: state.up, since: state.since };
    if (state.reason !== undefined && !state.up) health.reason = state.reason;
    if (state.latencyMs !== undefined) health.latencyMs = state.latencyMs;
    return health;
  }

  has(name: string): boolean {
    return this.mirrors.has(name);
  }

  /** Called on every up/down transition; returns an unsubscribe function. */
  onChange(listener: (change: HealthChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Called after every probe (for metrics); returns an unsubscribe function. */
  onProbe(listener: (result: ProbeResult) => void): () => void {
    this.probeListeners.add(listener);
    return () => this.probeListeners.delete(listener);
  }

  /** Starts background probing; each mirror's first probe is at a random point of its interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const state of this.mirrors.values()) this.schedule(state, this.random() * state.target.intervalMs);
  }

  /** Clears every timer and aborts in-flight probes; resolves once they have settled. */
  async stop(): Promise<void> {
    this.running = false;
    // A fresh controller, so probeNow() after stop() still works.
    const ending = this.lifetime;
    this.lifetime = abortControllerForMany();
    ending.abort();
    const pending: Promise<void>[] = [];
    for (const state of this.mirrors.values()) {
      this.clock.clearTimeout(state.timer);
      state.timer = undefined;
      if (state.inflight) pending.push(state.inflight);
    }
    await Promise.all(pending);
  }

  /** Probes every mirror once, concurrently; resolves when all are done. */
  async probeNow(): Promise<void> {
    await Promise.all([...this.mirrors.values()].map((state) => this.probe(state)));
  }

  /**
   * Takes a mirror down at once (the breaker saw traffic fail) and restarts its success count, so
   * only `rise` probes after this moment bring it back. No-op for a mirror that is not probed.
   */
  markDown(name: string, reason: string): void {
    const state = this.mirrors.get(name);
    if (!state) return;
    state.successes = 0;
    if (state.up) this.transition(state, false, reason);
  }

  /** For config reload: mirrors that stay keep their state; new ones start at their initial state. */
  replaceMirrors(targets: readonly ProbeTarget[]): void {
    const wanted = new Map(targets.map((target) => [target.name, target]));
    for (const [name, state] of this.mirrors) {
      if (!wanted.has(name)) {
        this.clock.clearTimeout(state.timer);
        this.mirrors.delete(name);
      }
    }
    for (const target of targets) {
      validate(target);
      const existing = this.mirrors.get(target.name);
      if (existing) {
        const intervalChanged = existing.target.intervalMs !== target.intervalMs;
        existing.target = target;
        if (intervalChanged && this.running && existing.timer !== undefined) {
          this.clock.clearTimeout(existing.timer);
          this.schedule(existing, this.random() * target.intervalMs);
        }
        continue;
      }
      const state: MirrorProbeState = { target, up: target.initiallyUp ?? true, since: this.clock.now(), successes: 0, failures: 0 };
      this.mirrors.set(target.name, state);
      if (this.running) this.schedule(state, this.random() * target.intervalMs);
    }
  }

  private schedule(state: MirrorProbeState, delayMs: number): void {
    state.timer = this.clock.setTimeout(() => {
      state.timer = undefined;
      void this.probe(state).then(() => {
        // Still running and still configured (a reload may have removed it meanwhile)?
        if (!this.running || this.mirrors.get(state.target.name) !== state || state.timer !== undefined) return;
        const factor = 1 - this.jitter + 2 * this.jitter * this.random();
        this.schedule(state, state.target.intervalMs * factor);
      });
    }, delayMs);
  }

  /** One probe of one mirror; probes of the same mirror never overlap (they queue). */
  private probe(state: MirrorProbeState): Promise<void> {
    // The signal is taken now, so stop() also cancels probes queued behind one in flight. With
    // nothing in flight the probe starts synchronously (its timeout timer is set on return).
    const signal = this.lifetime.signal;
    const run = state.inflight ? state.inflight.then(() => this.probeOnce(state, signal)) : this.probeOnce(state, signal);
    const tracked = run.finally(() => {
      if (state.inflight === tracked) state.inflight = undefined;
    });
    state.inflight = tracked;
    return tracked;
  }

  private async probeOnce(state: MirrorProbeState, signal: AbortSignal): Promise<void> {
    const { target } = state;
    const started = this.clock.now();
    const result = await timedRequest(this.fetchFn, this.clock, target.probeUrl, 'GET', target.timeoutMs, signal);
    // Results of probes aborted by stop(), or of a mirror removed meanwhile, are dropped.
    if (signal.aborted || this.mirrors.get(target.name) !== state) return;
    const latencyMs = this.clock.now() - started;
    let ok: boolean;
    let reason: string | undefined;
    if ('error' in result) {
      ok = false;
      reason = `probe ${target.probeUrl}: ${result.error}`;
    } else {
      ok = probeStatusOk(result.status);
      if (!ok) reason = `probe ${target.probeUrl}: HTTP ${result.status}`;
    }
    if (ok) {
      state.latencyMs = state.latencyMs === undefined ? latencyMs : this.alpha * latencyMs + (1 - this.alpha) * state.latencyMs;
      state.failures = 0;
      state.successes++;
      if (!state.up && state.successes >= target.rise) this.transition(state, true, undefined);
    } else {
      state.successes = 0;
      state.failures++;
      if (state.up && state.failures >= target.fall) this.transition(state, false, reason);
      else if (!state.up) state.reason = reason; // keep the freshest cause for explain
    }
    const probeResult: ProbeResult = { name: target.name, ok };
    if (!('error' in result)) probeResult.status = result.status;
    if (ok) probeResult.latencyMs = latencyMs;
    if (reason !== undefined) probeResult.reason = reason;
    for (const listener of this.probeListeners) listener(probeResult);
  }

  private transition(state: MirrorProbeState, up: boolean, reason: string | undefined): void {
    state.up = up;
    state.since = this.clock.now();
    state.reason = reason;
    state.failures = 0;
    state.successes = 0;
    const change: HealthChange = { name: state.target.name, up, since: state.since };
    if (reason !== undefined) change.reason = reason;
    this.options.logger?.[up ? 'info' : 'warn']({ mirror: change.name, up, reason }, up ? 'mirror up' : 'mirror down');
    for (const listener of this.changeListeners) listener(change);
  }
}

/** 2xx and 3xx mean the server answers; 401 is what a registry's /v2/ says to anonymous clients. */
function probeStatusOk(status: number): boolean {
  return (status >= 200 && status < 400) || status === 401;
}

function validate(target: ProbeTarget): void {
  for (const key of ['intervalMs', 'timeoutMs', 'rise', 'fall'] as const) {
    if (!(target[key] > 0)) throw new Error(`mirror ${target.name}: probe ${key} must be > 0, got ${target[key]}`);
  }
}
