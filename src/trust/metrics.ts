// Trust on /metrics: per mirror, the last audit's findings, the objects it found missing (behind)
// and how long ago the oldest of them was promoted, the median lag, whether the mirror is excluded, and when the
// last audit slice applied, and the background audit cycle's progress. Read from TrustState at scrape time.
import { Gauge, type Registry } from 'prom-client';
import type { TrustState } from './state.js';

export function registerTrustMetrics(registry: Registry, trust: TrustState, mirrors: () => Iterable<string>): void {
  const perMirror = (name: string, help: string, read: (mirror: string) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['mirror'],
      registers: [registry],
      collect() {
        this.reset();
        for (const mirror of mirrors()) this.set({ mirror }, read(mirror));
      },
    });
  perMirror('artifact_trust_findings', 'Findings of the last audit, per mirror.', (m) => trust.findings().filter((f) => f.mirror === m).length);
  perMirror('artifact_trust_objects_behind', 'Promoted objects the last audit found missing on the mirror.', (m) => trust.freshness(m)?.behind ?? 0);
  perMirror(
    'artifact_trust_oldest_lag_seconds',
    'Seconds since the oldest object still missing on the mirror was promoted (ledger time; else since an audit first found it missing).',
    (m) => trust.freshness(m)?.oldestLagSeconds ?? 0,
  );
  perMirror('artifact_trust_median_lag_seconds', 'Median of the recent lags from promotion to the audit seeing the object on the mirror (0: none measured).', (m) => trust.freshness(m)?.medianLagSeconds ?? 0);
  perMirror('artifact_trust_excluded', '1 when mirror trust keeps every client away from the mirror (ownership, altered bytes).', (m) => (trust.mirrorProblem(m) ? 1 : 0));
  new Gauge({
    name: 'artifact_trust_last_audit_timestamp_seconds',
    help: 'When the last background audit finished (0: none yet).',
    registers: [registry],
    collect() {
      this.set((trust.lastAudit?.finishedAt.getTime() ?? 0) / 1000);
    },
  });
  // The background audit's cycle (src/trust/scrubber.ts): progress = audited / total.
  const progress = (name: string, help: string, read: (p: NonNullable<ReturnType<TrustState['auditProgress']>>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const p = trust.auditProgress();
        this.set(p ? read(p) : 0);
      },
    });
  progress('artifact_trust_audit_cycle_objects_audited', 'Objects (a file, tag, image or ownership token on one mirror) the background audit has checked this cycle.', (p) => p.audited);
  progress('artifact_trust_audit_cycle_objects', 'Objects a background audit cycle checks.', (p) => p.total);
  progress('artifact_trust_audit_cycle_start_timestamp_seconds', 'When the current background audit cycle started (0: none yet).', (p) => (p.cycleStartedAt ? Date.parse(p.cycleStartedAt) / 1000 : 0));
  progress('artifact_trust_audit_last_cycle_seconds', 'How long the last complete background audit cycle took (0: none yet).', (p) => p.lastCycleSeconds ?? 0);
}
