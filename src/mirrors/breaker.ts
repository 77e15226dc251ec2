// A per-mirror circuit breaker fed by availability checks on the request path. Probes run every
// few seconds; traffic sees a dying mirror sooner, so a run of failed checks (errors, timeouts,
// 5xx — never 404, which says the mirror works but lacks one object) takes the mirror out at once.
//
// It closes again only through probes (MirrorState calls `reset()` when the prober brings the
// mirror back up after `rise` successes): one lucky check must not put a flapping mirror back in
// rotation. A mirror without probes has nothing that could close it, so for those a cooldown can
// be given: after it the breaker half-opens, and exactly one trial check is let through
// (`claimTrial`) while traffic keeps avoiding the mirror. The trial's success closes it; its
// failure re-opens it for another cooldown. (Letting all traffic through at once sent the mirror
// a burst of HEADs every cooldown and made clients wait on them.)

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
  private trialRunning = false;

  constructor(private readonly options: BreakerOptions) {
    if (!(options.threshold >= 1)) throw new Error(`breaker threshold must be >= 1, got ${options.threshold}`);
  }

  /** Records a failed check; returns true when this failure trips (or re-trips) the breaker. */
  recordFailure(reason: string, now: number): boolean {
    this.lastReason = reason;
    this.failures++;
    if (this.openedAt !== undefined && !this.halfOpen(now)) return false;
    if (this.failures < this.options.threshold && this.openedAt === undefined) return false;
    // Tripping, or the trial (or any check) failing while half-open: (re)open now.
    this.openedAt = now;
    this.trialRunning = false;
    return true;
  }

  /**
   * A successful check ends a run of failures. It does not close an open breaker (only probes do),
   * except a half-open one: there the cooldown is over and the mirror answered.
   * Returns true when this closed the breaker.
   */
  recordSuccess(now: number): boolean {
    if (this.openedAt === undefined) {
      this.failures = 0;
      return false;
    }
    if (!this.halfOpen(now)) return false;
    this.reset();
    return true;
  }

  /** Closes the breaker (the prober saw the mirror recover). */
  reset(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.lastReason = undefined;
    this.trialRunning = false;
  }

  /**
   * Whether traffic must avoid the mirror at `now`: while open, half-open included (until a
   * trial check succeeds, traffic keeps away).
   */
  isOpen(_now: number): boolean {
    return this.openedAt !== undefined;
  }

  /**
   * True exactly once per half-open period: the caller then runs the one trial check, whose
   * answer (recordSuccess / recordFailure) closes or re-opens the breaker.
   */
  claimTrial(now: number): boolean {
    if (!this.halfOpen(now) || this.trialRunning) return false;
    this.trialRunning = true;
    return true;
  }

  /** Whether `claimTrial` would grant a trial at `now`; reads only (for the decision). */
  trialDue(now: number): boolean {
    return this.halfOpen(now) && !this.trialRunning;
  }

  /** The trial ended without an answer about the mirror (aborted at shutdown): allow another. */
  releaseTrial(): void {
    this.trialRunning = false;
  }

  /** When it (last) tripped, while open. */
  get since(): number | undefined {
    return this.openedAt;
  }

  get reason(): string | undefined {
    return this.openedAt === undefined ? undefined : `breaker open after ${this.options.threshold} failed availability checks (last: ${this.lastReason ?? 'unknown'})`;
  }

  private halfOpen(now: number): boolean {
    const { cooldownMs } = this.options;
    return this.openedAt !== undefined && cooldownMs !== undefined && now - this.openedAt >= cooldownMs;
  }
}
