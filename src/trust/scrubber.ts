// serve's background audit, run like a disk scrubber: a cursor walks the audit's units (one per
// file, tag, image and ownership token per mirror) in slices at the configured request rate, and
// each slice's findings, clears (an object found again) and proofs apply to routing as soon as the
// slice is done. A full pass over k8s.io's content at 20 req/s takes days: waiting for its end
// would leave a deleted object routed for days. Objects a reload newly expects (just promoted, a
// moved tag) are audited before the cursor goes on, so their lag is measured at once.
//
// The units are the same as the CLI's full pass (planAudit / runAudit in audit.ts); this file
// only decides their order and applies their outcomes.
import { type AuditFinding, type AuditPlan, type AuditResult, type AuditUnit, type MirrorProof, newProof, runUnits, sortFindings, type UnitOutcome, unitId } from './audit.js';
import type { AuditProgress } from './view.js';

export interface ScrubberOptions {
  /** A slice takes new units for this long; then its outcomes apply. A reload may change these. */
  sliceMs: number;
  /** A new cycle starts at most this often after the previous one started. */
  intervalMs: number;
  concurrency?: number;
  random?: () => number;
  now?: () => number;
}

/** Where a step left things: `idle` when there is nothing to do until `nextCycleAt`. */
export type StepResult = { kind: 'slice'; result: AuditResult; units: number; cycleFinished: boolean } | { kind: 'cycle-started' } | { kind: 'idle'; nextCycleAt: number };

export class AuditScrubber {
  private plan: AuditPlan | undefined;
  /** This cycle's order (shuffled at its start, so the byte budget samples at random) and the cursor in it. */
  private order: AuditUnit[] = [];
  private position = 0;
  /** Units a reload newly expects: audited before the cursor goes on. */
  private urgent: AuditUnit[] = [];
  /** Per unit id, the findings of its last audit (only units with findings). */
  private findings = new Map<string, AuditFinding[]>();
  private proofs = new Map<string, MirrorProof>();
  /** Mirrors with at least one unit audited: freshness and findings are known for them. */
  private covered = new Set<string>();
  private cycle = 0;
  private cycleStartedAt: number | undefined;
  private audited = 0;
  private lastCycleFinishedAt: number | undefined;
  private lastCycleSeconds: number | undefined;
  private readonly now: () => number;

  constructor(readonly opts: ScrubberOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Takes a new plan (start, or a reload). What is still expected keeps its findings and proofs;
   * units it did not have before go first; the cycle goes on where it was.
   */
  setPlan(plan: AuditPlan): void {
    const previous = this.plan;
    this.plan = plan;
    const byId = new Map(plan.units.map((u) => [unitId(u), u]));
    const proofs = new Map(plan.mirrors.map((m) => [m, newProof(plan.expected)]));
    if (!previous) {
      this.proofs = proofs;
      this.order = [];
      this.position = 0;
      return;
    }
    // Proof bits move to the new ordinals by unit id (a tag's id names its promoted digest, so a moved tag starts unproven).
    const oldIds = new Set<string>();
    for (const unit of previous.units) {
      const id = unitId(unit);
      oldIds.add(id);
      const now = byId.get(id);
      const from = this.proofs.get(unit.mirror);
      if (now && now.ordinal >= 0 && unit.ordinal >= 0 && from) proofs.get(now.mirror)!.proven[now.ordinal] = from.proven[unit.ordinal]!;
    }
    for (const [mirror, proof] of proofs) proof.verified = this.proofs.get(mirror)?.verified ?? 0;
    this.proofs = proofs;
    for (const id of this.findings.keys()) if (!byId.has(id)) this.findings.delete(id);
    for (const mirror of this.covered) if (!proofs.has(mirror)) this.covered.delete(mirror);
    const remaining: AuditUnit[] = [];
    for (const unit of this.order.slice(this.position)) {
      const now = byId.get(unitId(unit));
      if (now) remaining.push(now);
    }
    const waiting = new Set(this.urgent.map(unitId));
    this.urgent = [...this.urgent.flatMap((u) => byId.get(unitId(u)) ?? []), ...plan.units.filter((u) => !oldIds.has(unitId(u)) && !waiting.has(unitId(u)))];
    this.order = remaining;
    this.position = 0;
  }

  /**
   * One step: a slice of units (the newly expected first), or the start of a cycle when it is
   * due. `stop()` is asked before each unit after the first: true ends the slice early (a reload waits).
   */
  async step(stop: () => boolean = () => false): Promise<StepResult> {
    const plan = this.plan;
    if (!plan) return { kind: 'idle', nextCycleAt: Number.POSITIVE_INFINITY };
    const started = this.now();
    const keepTaking = () => !stop() && this.now() - started < this.opts.sliceMs;
    const concurrency = this.opts.concurrency ?? 8;
    let outcomes: [AuditUnit, UnitOutcome][];
    if (this.urgent.length > 0) {
      const run = await runUnits(plan, this.urgent, 0, concurrency, keepTaking);
      this.urgent = this.urgent.slice(run.next);
      outcomes = run.outcomes;
    } else if (this.position < this.order.length) {
      const run = await runUnits(plan, this.order, this.position, concurrency, keepTaking);
      this.position = run.next;
      outcomes = run.outcomes;
    } else {
      const due = this.cycleStartedAt === undefined ? started : this.cycleStartedAt + this.opts.intervalMs;
      if (started < due) return { kind: 'idle', nextCycleAt: due };
      this.startCycle(plan);
      return { kind: 'cycle-started' };
    }
    const result = this.apply(plan, started, outcomes);
    const finishing = this.urgent.length === 0 && this.position >= this.order.length && this.lastCycleFinishedAt === undefined;
    if (finishing) this.finishCycle();
    return { kind: 'slice', result, units: outcomes.length, cycleFinished: finishing };
  }

  /**
   * The audit as it stands, with no new outcomes: after setPlan, so findings about objects no
   * longer expected leave routing at once. Undefined before any unit was audited.
   */
  snapshot(): AuditResult | undefined {
    if (!this.plan || this.covered.size === 0) return undefined;
    return this.apply(this.plan, this.now(), []);
  }

  /** Where the cycle is: for status.json and /metrics. */
  progress(): AuditProgress {
    return {
      cycle: this.cycle,
      audited: this.audited,
      total: this.plan?.units.length ?? 0,
      newlyExpected: this.urgent.length,
      ...(this.cycleStartedAt !== undefined && { cycleStartedAt: new Date(this.cycleStartedAt).toISOString() }),
      ...(this.lastCycleFinishedAt !== undefined && { lastCycleFinishedAt: new Date(this.lastCycleFinishedAt).toISOString() }),
      ...(this.lastCycleSeconds !== undefined && { lastCycleSeconds: this.lastCycleSeconds }),
    };
  }

  private startCycle(plan: AuditPlan): void {
    plan.newCycle();
    this.cycle++;
    this.cycleStartedAt = this.now();
    this.lastCycleFinishedAt = undefined;
    this.audited = 0;
    for (const proof of this.proofs.values()) proof.verified = 0;
    const random = this.opts.random ?? Math.random;
    // Shuffled: the byte budget then samples different objects each cycle.
    const order = [...plan.units];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    this.order = order;
    this.position = 0;
  }

  private finishCycle(): void {
    if (this.cycleStartedAt === undefined || this.lastCycleFinishedAt !== undefined) return;
    this.lastCycleFinishedAt = this.now();
    this.lastCycleSeconds = (this.lastCycleFinishedAt - this.cycleStartedAt) / 1000;
  }

  /** Applies a slice's outcomes and returns the audit as it stands now (every mirror's findings and proofs). */
  private apply(plan: AuditPlan, startedAt: number, outcomes: [AuditUnit, UnitOutcome][]): AuditResult {
    const seen = new Map<string, Map<string, number>>();
    const ownerChecked = new Set<string>();
    for (const [unit, outcome] of outcomes) {
      this.audited++;
      this.covered.add(unit.mirror);
      const id = unitId(unit);
      if (outcome.findings.length > 0) this.findings.set(id, outcome.findings);
      else this.findings.delete(id);
      const proof = this.proofs.get(unit.mirror)!;
      if (unit.ordinal >= 0) proof.proven[unit.ordinal] = outcome.bits;
      proof.verified += outcome.verified;
      if (unit.kind === 'owner') ownerChecked.add(unit.mirror);
      if (outcome.seen) seen.set(unit.mirror, (seen.get(unit.mirror) ?? new Map<string, number>()).set(outcome.seen.key, outcome.seen.at));
    }
    const findings = [...this.findings.values()].flat();
    sortFindings(findings);
    return {
      startedAt: new Date(startedAt),
      finishedAt: new Date(this.now()),
      mirrors: [...this.covered],
      findings,
      proofs: this.proofs,
      expected: plan.expected,
      requests: plan.counters.requests,
      sampledBytes: plan.counters.sampledBytes,
      seen,
      ownerChecked: [...ownerChecked],
    };
  }
}
