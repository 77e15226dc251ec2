// A per-mirror circuit breaker fed by availability checks on the request path. Probes run every
// few seconds; traffic sees a dying mirror sooner, so a run of failed checks (errors, timeouts,
// 5xx — never 404, which says the mirror works but lacks one object) takes the mirror out at once.
//
// It closes again only through probes (MirrorState calls `reset()` when the prober brings the
// mirror back up after `rise` successes): one lucky check must not put a flapping mirror back in
// rotation. A mirror without probes has nothing that could close it, so for those a cooldown can
// be given: after it the breaker half-opens (traffic flows again, and one more failure re-trips).

export interface BreakerOptions {
  /** Consecutive failed checks that trip the breaker. */
  threshold: number;
  /** Half-open after this long; undefined = stay open until `reset()`. */
  cooldownMs?: number;
}

export class Breaker {
  private failures = 0;
  private openedAt: number | undefined;
  private lastReason: string | undefined;

  constructor(private readonly options: BreakerOptions) {
    if (!(options.threshold >= 1)) throw new Error(`breaker threshold must be >= 1, got ${options.threshold}`);
  }

  /** Records a failed check; returns true when this failure trips (or re-trips) the breaker. */
  recordFailure(reason: string, now: number): boolean {
    this.lastReason = reason;
    this.failures++;
    if (this.openedAt !== undefined && !this.halfOpen(now)) return false;
    if (this.failures < this.options.threshold && this.openedAt === undefined) return false;
    // Tripping, or a failure while half-open: (re)open now.
    this.openedAt = now;
    return true;
  }

  /**
   * A successful check ends a run of failures. It does not close an open breaker (only probes do),
   * except a half-open one: there the cooldown already let traffic back and it worked.
   */
  recordSuccess(now: number): void {
    if (this.openedAt === undefined) this.failures = 0;
    else if (this.halfOpen(now)) this.reset();
  }

  /** Closes the breaker (the prober saw the mirror recover). */
  reset(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.lastReason = undefined;
  }

  /** Whether traffic must avoid the mirror at `now`. */
  isOpen(now: number): boolean {
    return this.openedAt !== undefined && !this.halfOpen(now);
  }

  /** When it (last) tripped, while open. */
  get since(): number | undefined {
    return this.openedAt;
  }

  get reason(): string | undefined {
    return this.openedAt === undefined
      ? undefined
      : `breaker open after ${this.options.threshold} failed availability checks (last: ${this.lastReason ?? 'unknown'})`;
  }

  private halfOpen(now: number): boolean {
    const { cooldownMs } = this.options;
    return this.openedAt !== undefined && cooldownMs !== undefined && now - this.openedAt >= cooldownMs;
  }
}
