// The live mirror state behind MirrorStateView: a health prober, an availability cache, and one
// breaker per mirror fed by the cache's checks, all private behind named operations. The
// decision reads it synchronously and changes nothing; the request path only ever waits in
// `ensureChecked`, never longer than its deadline, and after answering hands back what the
// decision asked for (`countReads`, `refresh`).
import { systemClock, type Clock } from '../net/clock.js';
import { AvailabilityCache, type AvailabilityCacheOptions, type AvailabilityStats, type CheckEvent, type PurgeScope } from './availability-cache.js';
import { Breaker } from './breaker.js';
import { HealthProber, type HealthChange, type HealthProberOptions, type ProbeResult, type ProbeTarget } from './health-prober.js';
import type { Availability, AvailabilityCheck, CacheReads, MirrorHealth, MirrorStateService } from './state-view.js';

/** The prober's options (clock, fetch, logger, random, ewmaAlpha, jitter); clock and fetch serve the cache too. */
export interface MirrorStateOptions extends HealthProberOptions {
  /** Mirrors with probes configured; others are never probed and count as up. */
  probes: readonly ProbeTarget[];
  /** Consecutive failed checks that trip a mirror's breaker; default 3. */
  breakerThreshold?: number;
  /**
   * A mirror without probes has nothing that could close its breaker, so it half-opens after this
   * long; default 30 000 ms. Probed mirrors come back only through `rise` successful probes.
   */
  unprobedCooldownMs?: number;
  cache?: Omit<AvailabilityCacheOptions, 'clock' | 'fetch' | 'onCheck'>;
}

export interface MirrorStateChange extends HealthChange {
  /** What caused it: a probe result, or the breaker on failed availability checks. */
  source: 'probe' | 'breaker';
}

export interface MirrorStateStats extends AvailabilityStats {
  /** Mirrors whose breaker is open now. */
  openBreakers: number;
}

interface BreakerSlot {
  breaker: Breaker;
  /** Whether the mirror was probed when the breaker was made (decides how it closes). */
  probed: boolean;
  /** The last failed check: what an unprobed mirror's trial check asks again. */
  lastFailed?: AvailabilityCheck;
}

export class MirrorState implements MirrorStateService {
  private readonly prober: HealthProber;
  private readonly cache: AvailabilityCache;
  private readonly breakers = new Map<string, BreakerSlot>();
  private readonly listeners = new Set<(change: MirrorStateChange) => void>();
  private readonly clock: Clock;
  /** Set while markDown runs, so the prober's resulting change is attributed to the breaker. */
  private trippingBreaker = false;

  constructor(private readonly options: MirrorStateOptions) {
    this.clock = options.clock ?? systemClock;
    const { probes, breakerThreshold: _threshold, unprobedCooldownMs: _cooldown, cache, ...proberOptions } = options;
    this.prober = new HealthProber(probes, { ...proberOptions, clock: this.clock });
    this.cache = new AvailabilityCache({ ...cache, clock: this.clock, ...(options.fetch && { fetch: options.fetch }), onCheck: (event) => this.onCheck(event) });
    this.prober.onChange((change) => {
      // Probes brought the mirror back: that is the only way a probed mirror's breaker closes.
      if (change.up) this.breakers.get(change.name)?.breaker.reset();
      this.emit({ ...change, source: this.trippingBreaker ? 'breaker' : 'probe' });
    });
  }

  /**
   * Down if the probes or the breaker say so; the breaker's reason wins (it is the fresher news).
   * Reads only: an unprobed mirror past its breaker's cooldown says which trial check is due
   * (`trial`), and `refresh` runs it.
   */
  health(mirror: string): MirrorHealth {
    const probed = this.prober.health(mirror);
    const slot = this.breakers.get(mirror);
    // No breaker yet (the mirror has never failed a check): no clock read on the request path.
    if (!slot) return probed;
    const now = this.clock.now();
    if (!slot.breaker.isOpen(now)) return probed;
    const { breaker } = slot;
    const health: MirrorHealth = { up: false };
    const reason = breaker.reason;
    if (reason !== undefined) health.reason = reason;
    if (breaker.since !== undefined) health.since = breaker.since;
    if (probed.latencyMs !== undefined) health.latencyMs = probed.latencyMs;
    if (!slot.probed && slot.lastFailed && breaker.trialDue(now)) health.trial = slot.lastFailed;
    return health;
  }

  availability(mirror: string, objectKey: string): Availability | undefined {
    return this.cache.peek(mirror, objectKey);
  }

  isStale(mirror: string, objectKey: string): boolean {
    return this.cache.isStale(mirror, objectKey);
  }

  countReads(reads: CacheReads): void {
    this.cache.countReads(reads);
  }

  /**
   * After an answer: re-checks the stale answers a decision used, and runs a due breaker trial
   * (one per half-open period; until it passes every request keeps skipping the mirror, so none
   * waits on it). A check already in flight for the same object is joined, not repeated.
   */
  refresh(checks: readonly AvailabilityCheck[]): void {
    const now = this.clock.now();
    for (const check of checks) {
      const slot = this.breakers.get(check.mirror);
      if (slot?.breaker.isOpen(now)) {
        if (!slot.probed && slot.breaker.claimTrial(now)) void this.checkNow(check);
      } else if (!this.cache.isFresh(check.mirror, check.key)) {
        void this.checkNow(check);
      }
    }
  }

  /**
   * Starts the checks whose answer is unknown (nothing cached, not even stale) on mirrors that are
   * up, and resolves when they are done or at `deadlineMs`, whichever is first. Checks still
   * running at the deadline go on and fill the cache for the next request; the decision then sees
   * "unknown" for them and picks the safe choice.
   */
  async ensureChecked(checks: readonly AvailabilityCheck[], deadlineMs: number): Promise<void> {
    const running: Promise<unknown>[] = [];
    for (const check of checks) {
      if (this.cache.has(check.mirror, check.key) || !this.health(check.mirror).up) continue;
      running.push(this.checkNow(check));
    }
    if (running.length === 0) return;
    let timer: unknown;
    const deadline = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(resolve, deadlineMs);
    });
    try {
      await Promise.race([Promise.all(running), deadline]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** Up/down transitions of any mirror, from probes or breakers; returns an unsubscribe function. */
  onChange(listener: (change: MirrorStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** HEADs one object now, even if an answer is cached (sharing a check already in flight). */
  checkNow(check: AvailabilityCheck): Promise<Availability> {
    return this.cache.check(check.mirror, check.key, check.url, check.timeoutMs === undefined ? { kind: check.kind } : { kind: check.kind, timeoutMs: check.timeoutMs });
  }

  /** Probes every probed mirror once, now; resolves when all are done. */
  probeNow(): Promise<void> {
    return this.prober.probeNow();
  }

  /** Every probe result (for probe metrics); returns an unsubscribe function. */
  onProbe(listener: (result: ProbeResult) => void): () => void {
    return this.prober.onProbe(listener);
  }

  start(): void {
    this.prober.start();
  }

  /** Stops probing and aborts checks in flight; resolves when everything has settled. */
  async stop(): Promise<void> {
    await Promise.all([this.prober.stop(), this.cache.close()]);
  }

  /** Config reload: probe state of mirrors that stay is kept; cached availability is kept. */
  replaceMirrors(probes: readonly ProbeTarget[]): void {
    this.prober.replaceMirrors(probes);
    // A breaker made for a probed mirror waits for probes; one for an unprobed mirror has a
    // cooldown. When that changes, start the mirror with a fresh breaker.
    for (const [name, slot] of this.breakers) if (slot.probed !== this.prober.has(name)) this.breakers.delete(name);
  }

  /** Drops cached availability answers: SIGHUP (all), POST /-/purge (all, a mirror, an object). */
  purge(scope: PurgeScope = {}): number {
    return this.cache.purge(scope);
  }

  /** Drops everything known about a mirror: after a reload points its name at another place. */
  forgetMirror(mirror: string): number {
    return this.cache.purge({ mirror });
  }

  stats(): MirrorStateStats {
    const now = this.clock.now();
    let openBreakers = 0;
    for (const { breaker } of this.breakers.values()) if (breaker.isOpen(now)) openBreakers++;
    return { ...this.cache.stats(), openBreakers };
  }

  private onCheck(event: CheckEvent): void {
    const now = this.clock.now();
    const slot = this.breakerFor(event.mirror);
    if (!event.mirrorFailed) {
      if (slot.breaker.recordSuccess(now) && !slot.probed) {
        this.options.logger?.info({ mirror: event.mirror }, 'mirror breaker closed: trial check passed');
        this.emit({ name: event.mirror, up: true, since: now, source: 'breaker' });
      }
      return;
    }
    slot.lastFailed = { mirror: event.mirror, key: event.key, url: event.url, kind: event.kind };
    const reason = event.availability.state === 'error' ? event.availability.reason : event.availability.state;
    if (!slot.breaker.recordFailure(reason, now)) return;
    const tripReason = slot.breaker.reason ?? reason;
    this.options.logger?.warn({ mirror: event.mirror, key: event.key, reason: tripReason }, 'mirror breaker open');
    if (slot.probed) {
      // Also restarts the probe success count: only `rise` probes from now on bring it back.
      this.trippingBreaker = true;
      try {
        this.prober.markDown(event.mirror, tripReason);
      } finally {
        this.trippingBreaker = false;
      }
    } else {
      this.emit({ name: event.mirror, up: false, reason: tripReason, since: now, source: 'breaker' });
    }
  }

  private breakerFor(mirror: string): BreakerSlot {
    let slot = this.breakers.get(mirror);
    if (!slot) {
      const probed = this.prober.has(mirror);
      const threshold = this.options.breakerThreshold ?? 3;
      const breaker = new Breaker(probed ? { threshold } : { threshold, cooldownMs: this.options.unprobedCooldownMs ?? 30_000 });
      slot = { breaker, probed };
      this.breakers.set(mirror, slot);
    }
    return slot;
  }

  private emit(change: MirrorStateChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
