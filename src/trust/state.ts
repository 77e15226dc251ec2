// The redirector's trust state: the expected content (reloaded with the config), the last audit's
// findings and proofs, and each mirror's ownership check. It is the TrustView decide() reads
// (src/trust/view.ts); `serve` fills it in the background (TrustRunner, below).
import type { CompiledConfig } from '../config/compiled.js';
import { formatProblem } from '../config/yaml-source.js';
import type { MirrorStateService } from '../mirrors/state-view.js';
import { credentialsFile, type CredentialLookup } from '../oci/auth.js';
import { errorMessage } from '../util/error-message.js';
import { median as medianOf } from '../util/median.js';
import { auditedMirrors, isProven, planAudit, REFERRERS, type AuditFinding, type AuditPlan, type AuditResult, type MirrorProof } from './audit.js';
import { authorizingFetch } from './auth-fetch.js';
import { AuditScrubber, type StepResult } from './scrubber.js';
import { loadExpected, NO_EXPECTED, type ExpectedContent, type ExpectedLoad } from './expected.js';
import { readToken, registryDestination, tokenProblem } from './ownership.js';
import type { AuditProgress, Freshness, TrustView } from './view.js';

export type { Freshness } from './view.js';

export interface MirrorTrustStatus {
  mirror: string;
  /** Why the mirror is out of routing, or undefined. */
  excluded?: string;
  ownership: 'ok' | 'unchecked' | 'failed' | 'not configured';
  findings: number;
  auditedAt?: string;
}

/** Lags kept per mirror for the median. */
const LAG_SAMPLES = 1000;

export class TrustState implements TrustView {
  expected: ExpectedContent = NO_EXPECTED;
  private ownershipKey: string | undefined;
  /** Mirrors whose ownership must be proven (those on routes with expected content). */
  private owned = new Set<string>();
  private ownership = new Map<string, { problem?: string; checkedAt: number }>();
  private audit: { result: AuditResult; byMirror: Map<string, string>; byObject: Map<string, Map<string, string>>; proofs: Map<string, MirrorProof> } | undefined;

  /** Takes a config's trust settings and expected content (after a successful load). */
  apply(config: CompiledConfig, expected: ExpectedContent): void {
    this.expected = expected;
    const key = config.trust?.ownershipKey;
    if (key !== this.ownershipKey) this.ownership.clear();
    this.ownershipKey = key;
    this.owned = key ? new Set(auditedMirrors(config, expected).keys()) : new Set();
  }

  setOwnership(mirror: string, problem: string | undefined, checkedAt = Date.now()): void {
    this.ownership.set(mirror, { ...(problem && { problem }), checkedAt });
  }

  /** Per mirror: availability key -> when an audit first found it missing (kept while it stays missing). */
  private missingSince = new Map<string, Map<string, number>>();
  /** Per mirror: when its last audit pass (or slice) started (freshness is unknown before the first). */
  private passStartedAt = new Map<string, number>();
  /** Per mirror: when the audit first covered it: objects promoted before were there before we looked. */
  private coveredSince = new Map<string, number>();
  /** Per mirror: keys timed so far, with the promotion time they were timed for (so each arrival is timed once). */
  private timed = new Map<string, Map<string, number>>();
  /** Per mirror: the last LAG_SAMPLES lags measured, in seconds (promotion to the audit seeing it). */
  private lags = new Map<string, number[]>();

  /** Objects promoted before this (with no audit before them) arrived before we could look. */
  private readonly createdAt = Date.now();

  /** The background audit's progress (set by TrustRunner after each step). */
  progress: AuditProgress | undefined;

  auditProgress(): AuditProgress | undefined {
    return this.progress;
  }

  /**
   * Whether the audit should time `key`'s arrival on `mirror`: it was missing there, or it was
   * promoted (again) since the audit first covered the mirror and not timed for that promotion
   * yet. Objects promoted before we first looked were there before we looked: their arrival time
   * is unknown, and timing them would report the redirector's uptime as lag.
   */
  watch(mirror: string, key: string): boolean {
    if (this.missingSince.get(mirror)?.has(key)) return true;
    const promoted = this.expected.promotedAt(key);
    if (promoted === undefined || this.timed.get(mirror)?.get(key) === promoted) return false;
    return promoted >= (this.coveredSince.get(mirror) ?? this.createdAt);
  }

  /**
   * Per mirror: objects behind (promoted, not yet seen there), the oldest of them in seconds since
   * its promotion (ledger time, else since an audit first found it missing), and the median of the
   * recent lags measured from promotion to the audit seeing the object. Undefined until an audit
   * has covered the mirror.
   */
  freshness(mirror: string, now = Date.now()): Freshness | undefined {
    if (!this.passStartedAt.has(mirror)) return undefined;
    const missing = this.missingSince.get(mirror);
    const lags = this.lags.get(mirror) ?? [];
    const median = medianOf(lags);
    const out: Freshness = { behind: missing?.size ?? 0, oldestLagSeconds: 0, lagsMeasured: lags.length, ...(median !== undefined && { medianLagSeconds: median }) };
    if (!missing || missing.size === 0) return out;
    let oldest = now;
    for (const [key, since] of missing) oldest = Math.min(oldest, this.expected.promotedAt(key) ?? since);
    out.oldestLagSeconds = Math.max(0, (now - oldest) / 1000);
    return out;
  }

  /** Lags (seconds) measured by the last pass over `mirror`, for the audit line in the access log. */
  lastLags = new Map<string, number[]>();

  setAudit(result: AuditResult): void {
    const missingSince = new Map<string, Map<string, number>>();
    for (const f of result.findings) {
      if (!f.key || !/missing/.test(f.problem)) continue;
      let m = missingSince.get(f.mirror);
      if (!m) {
        m = new Map();
        missingSince.set(f.mirror, m);
      }
      m.set(f.key, this.missingSince.get(f.mirror)?.get(f.key) ?? result.startedAt.getTime());
    }
    // Lags: each watched key the pass found, from its promotion (or first seen missing) to then.
    for (const mirror of result.mirrors) {
      const measured: number[] = [];
      for (const [key, seenAt] of result.seen?.get(mirror) ?? []) {
        const from = this.expected.promotedAt(key) ?? this.missingSince.get(mirror)?.get(key);
        if (from !== undefined) measured.push(Math.max(0, (seenAt - from) / 1000));
      }
      const timed = this.timed.get(mirror) ?? new Map<string, number>();
      this.timed.set(mirror, timed);
      for (const key of result.seen?.get(mirror)?.keys() ?? []) {
        const promoted = this.expected.promotedAt(key);
        if (promoted !== undefined) timed.set(key, promoted);
      }
      this.passStartedAt.set(mirror, result.startedAt.getTime());
      if (!this.coveredSince.has(mirror)) this.coveredSince.set(mirror, result.startedAt.getTime());
      this.lastLags.set(mirror, measured);
      if (measured.length > 0) this.lags.set(mirror, [...(this.lags.get(mirror) ?? []), ...measured].slice(-LAG_SAMPLES));
    }
    // Mirrors this pass did not cover (audit --mirror) keep what was known.
    for (const [mirror, m] of this.missingSince) if (!result.mirrors.includes(mirror)) missingSince.set(mirror, m);
    this.missingSince = missingSince;

    const byMirror = new Map<string, string>();
    // Per mirror, then per key: the request path looks up without building a combined string.
    const byObject = new Map<string, Map<string, string>>();
    for (const f of result.findings) {
      if (f.scope === 'mirror') {
        if (!byMirror.has(f.mirror)) byMirror.set(f.mirror, `${f.object}: ${f.problem}`);
      } else if (f.key) {
        let objects = byObject.get(f.mirror);
        if (!objects) {
          objects = new Map();
          byObject.set(f.mirror, objects);
        }
        objects.set(f.key, f.problem);
      }
    }
    // A full audit's ownership findings are ownership checks too (a slice's: for the mirrors it checked).
    for (const mirror of result.ownerChecked ?? result.mirrors) {
      const owner = result.findings.find((f) => f.mirror === mirror && f.object.startsWith('owner') && f.scope === 'mirror');
      if (this.ownershipKey) this.setOwnership(mirror, owner?.problem, result.finishedAt.getTime());
    }
    this.audit = { result, byMirror, byObject, proofs: result.proofs };
  }

  get lastAudit(): AuditResult | undefined {
    return this.audit?.result;
  }

  mirrorProblem(mirror: string): string | undefined {
    if (this.owned.has(mirror)) {
      const own = this.ownership.get(mirror);
      if (!own) return 'ownership token not checked yet';
      if (own.problem) return own.problem;
    }
    return this.audit?.byMirror.get(mirror);
  }

  objectProblem(mirror: string, key: string): string | undefined {
    return this.audit?.byObject.get(mirror)?.get(key);
  }

  retiring(routePrefix: string, key: string): boolean {
    return this.expected.isRetiring(routePrefix, key);
  }

  expects(routePrefix: string): boolean {
    return this.expected.route(routePrefix) !== undefined;
  }

  promotedDigest(routePrefix: string, name: string, tag: string): string | undefined {
    return this.expected.tagDigest(routePrefix, name, tag);
  }

  auditedTag(mirror: string, routePrefix: string, name: string, tag: string): string | undefined {
    // Proven against the expected content of its audit: the digest promoted then (a reload may have moved the tag since).
    const audit = this.audit;
    if (!audit || !isProven(audit.proofs.get(mirror), audit.result.expected, routePrefix, `${name}:${tag}`)) return undefined;
    return audit.result.expected.tagDigest(routePrefix, name, tag);
  }

  signaturesComplete(mirror: string, routePrefix: string, name: string, digest: string): boolean {
    const audit = this.audit;
    return audit !== undefined && isProven(audit.proofs.get(mirror), audit.result.expected, routePrefix, `${name}@${digest}`);
  }

  referrersComplete(mirror: string, routePrefix: string, name: string, digest: string): boolean {
    const audit = this.audit;
    return audit !== undefined && isProven(audit.proofs.get(mirror), audit.result.expected, routePrefix, `${name}@${digest}`, REFERRERS);
  }

  /** Per mirror, for the status page and status.json. */
  status(mirrors: Iterable<string>): MirrorTrustStatus[] {
    const out: MirrorTrustStatus[] = [];
    for (const mirror of mirrors) {
      const own = this.ownership.get(mirror);
      const excluded = this.mirrorProblem(mirror);
      const status: MirrorTrustStatus = {
        mirror,
        ownership: !this.owned.has(mirror) ? 'not configured' : !own ? 'unchecked' : own.problem ? 'failed' : 'ok',
        findings: this.audit?.result.findings.filter((f) => f.mirror === mirror).length ?? 0,
      };
      if (excluded) status.excluded = excluded;
      if (this.audit?.result.mirrors.includes(mirror)) status.auditedAt = this.audit.result.finishedAt.toISOString();
      out.push(status);
    }
    return out;
  }

  /** Findings of the last audit (for status.json). */
  findings(): readonly AuditFinding[] {
    return this.audit?.result.findings ?? [];
  }
}

/** The live mirror state with trust added: what the server hands to decide(). */
export function withTrust(state: MirrorStateService, trust: TrustView): MirrorStateService {
  return {
    health: (mirror) => state.health(mirror),
    availability: (mirror, key) => state.availability(mirror, key),
    ...(state.isStale && { isStale: (mirror: string, key: string) => state.isStale!(mirror, key) }),
    ensureChecked: (checks, deadlineMs) => state.ensureChecked(checks, deadlineMs),
    countReads: (reads) => state.countReads(reads),
    refresh: (checks) => state.refresh(checks),
    ...(state.stats && { stats: () => state.stats!() }),
    ...(state.purge && { purge: (scope: { mirror?: string; key?: string }) => state.purge!(scope) }),
    trust,
  };
}

export interface TrustLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Availability-cache keys retiring in `previous` and no longer in `next`. */
export function retiredSince(previous: ExpectedContent, next: ExpectedContent): string[] {
  const out: string[] = [];
  for (const [prefix, route] of previous.routes) for (const key of route.retiring) if (!next.isRetiring(prefix, key)) out.push(key);
  return out;
}

/**
 * Keeps a TrustState current in `serve`: expected content on start and reload, ownership checks
 * at once and every `ownershipIntervalMs`, and the background audit at the configured interval
 * and rate. Never throws: a failure is logged and the previous state stays.
 */
export class TrustRunner {
  private config: CompiledConfig | undefined;
  private timers: NodeJS.Timeout[] = [];
  private abort = new AbortController();
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /**
   * Called after a load with the availability-cache keys a ledger marked retiring before and no
   * longer does: deleted by now (or kept after all). Cached answers about them are stale: `serve`
   * drops them, so no client is sent to a mirror that has lost the object since.
   */
  onRetired?: (keys: string[]) => void;
  /**
   * Called after an audit slice is applied with the mirrors to write freshness lines for (serve
   * writes them to the access log): those where the slice timed an arrival, and every covered
   * mirror when it finished a cycle.
   */
  onAudit?: (result: AuditResult) => void;
  private scrubber: AuditScrubber | undefined;
  /** From trust.credentials, loaded with the config. */
  private credentials: CredentialLookup | undefined;
  /** A plan waiting for the current slice to end (a reload). */
  private pendingPlan: AuditPlan | undefined;
  private looping = false;
  private wake: (() => void) | undefined;

  /**
   * `workers`: under `serve --workers N` every worker audits for its own routing, each at 1/N of
   * the configured request rate and byte budget, so the mirrors see the configured load in all.
   */
  constructor(
    readonly state: TrustState,
    private readonly logger: TrustLogger,
    private readonly ownershipIntervalMs = 300_000,
    private readonly workers = 1,
  ) {}

  /** Loads the expected content for `config` and, when it loads, applies it and restarts the checks. */
  async load(config: CompiledConfig, preloaded?: ExpectedLoad): Promise<boolean> {
    const loaded = preloaded ?? (await loadExpected(config.trust));
    if (!loaded.ok) {
      this.logger.error({ problems: loaded.problems.map(formatProblem) }, 'expected content rejected; keeping the previous one');
      return false;
    }
    let credentials: CredentialLookup | undefined;
    try {
      credentials = config.trust?.credentials ? await credentialsFile(config.trust.credentials) : undefined;
    } catch (error) {
      // The message names the file and what is wrong with it, never its contents.
      this.logger.error({ err: errorMessage(error) }, 'audit credentials rejected; keeping the previous expected content and credentials');
      return false;
    }
    if (this.stopped) return false;
    this.credentials = credentials;
    this.config = config;
    const previous = this.state.expected;
    this.state.apply(config, loaded.expected);
    const retired = retiredSince(previous, loaded.expected);
    if (retired.length > 0) this.onRetired?.(retired);
    if (config.trust) this.logger.info({ ...loaded.expected.counts(), warnings: loaded.warnings.map(formatProblem) }, 'expected content loaded');
    this.schedule();
    return true;
  }

  private schedule(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const config = this.config;
    if (!config?.trust) return;
    if (config.trust.ownershipKey) {
      void this.checkOwnership();
      this.timers.push(setInterval(() => void this.checkOwnership(), this.ownershipIntervalMs).unref());
    }
    if (config.trust.audit.intervalMs > 0) this.planAudit(config);
    else {
      this.scrubber = undefined;
      this.state.progress = undefined;
    }
  }

  /** A new plan for the background audit (start, reload): it takes over after the current slice. */
  private planAudit(config: CompiledConfig): void {
    const audit = config.trust!.audit;
    const share = Math.max(1, this.workers);
    this.pendingPlan = planAudit(config, this.state.expected, {
      requestsPerSecond: audit.requestsPerSecond / share,
      sampleBytes: Math.floor(audit.sampleBytes / share),
      signal: this.abort.signal,
      watch: (mirror, key) => this.state.watch(mirror, key),
      ...(this.credentials && { credentials: this.credentials }),
    });
    const options = { intervalMs: audit.intervalMs, sliceMs: audit.sliceMs };
    if (this.scrubber) Object.assign(this.scrubber.opts, options);
    else this.scrubber = new AuditScrubber(options);
    this.wake?.();
    if (!this.looping) this.running = this.loop();
  }

  /** The background audit: slice after slice, each applied to routing at once; idle between cycles. */
  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (!this.stopped && this.scrubber) {
        const scrubber = this.scrubber;
        if (this.pendingPlan) {
          scrubber.setPlan(this.pendingPlan);
          this.pendingPlan = undefined;
          const now = scrubber.snapshot();
          if (now) this.state.setAudit(now);
        }
        let step: StepResult;
        try {
          step = await scrubber.step(() => this.stopped || this.pendingPlan !== undefined);
        } catch (error) {
          if (this.stopped) return;
          this.logger.error({ err: errorMessage(error) }, 'audit failed');
          await this.sleep(10_000);
          continue;
        }
        if (this.stopped) return;
        this.state.progress = scrubber.progress();
        if (step.kind === 'idle') await this.sleep(step.nextCycleAt - Date.now());
        if (step.kind !== 'slice') continue;
        const result = step.result;
        this.state.setAudit(result);
        const timed = [...(result.seen?.keys() ?? [])];
        if (step.cycleFinished) {
          this.onAudit?.(result);
          const p = scrubber.progress();
          this.logger.info({ findings: result.findings.length, units: p.audited, requests: result.requests, sampledBytes: result.sampledBytes, seconds: p.lastCycleSeconds, cycle: p.cycle }, 'audit finished');
        } else if (timed.length > 0) this.onAudit?.({ ...result, mirrors: timed });
      }
    } finally {
      this.looping = false;
    }
  }

  /** Waits `ms`, or until a reload or stop wakes the loop. */
  private sleep(ms: number): Promise<void> {
    if (!(ms > 0)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  async checkOwnership(): Promise<void> {
    const config = this.config;
    if (!config?.trust?.ownershipKey) return;
    for (const [mirror, problem] of await checkOwnership(config, this.state.expected, this.credentials)) {
      if (this.stopped) return;
      this.state.setOwnership(mirror, problem);
      if (problem) this.logger.error({ mirror, problem }, 'mirror excluded: ownership');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.abort.abort();
    this.wake?.();
    await this.running.catch(() => undefined);
  }
}

/** Reads every audited mirror's ownership token(s): mirror -> the problem, or undefined when it is its own. */
export async function checkOwnership(config: CompiledConfig, expected: ExpectedContent, credentials?: CredentialLookup): Promise<Map<string, string | undefined>> {
  const key = config.trust?.ownershipKey;
  const fetchFn = authorizingFetch(credentials ?? (() => undefined));
  const out = new Map<string, string | undefined>();
  if (!key) return out;
  await Promise.all(
    [...auditedMirrors(config, expected).values()].map(async ({ mirror, routes }) => {
      let problem: string | undefined;
      try {
        if (mirror.kind !== 'registry') {
          const destination = config.trust!.destinations.get(mirror.name);
          problem = destination ? tokenProblem(key, destination, await readToken(mirror, '', fetchFn)) : 'no destination configured for its ownership token';
        } else {
          for (const route of routes) {
            for (const prefix of expected.route(route.prefix)?.imagePrefixes ?? []) {
              problem ??= tokenProblem(key, registryDestination(mirror, prefix), await readToken(mirror, prefix, fetchFn));
            }
          }
        }
      } catch (error) {
        problem = errorMessage(error);
      }
      out.set(mirror.name, problem);
    }),
  );
  return out;
}
