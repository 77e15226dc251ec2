// Trust on /metrics: per mirror, the last audit's findings, the objects it found missing (behind)
// and how long ago the oldest of them was promoted, the median lag, whether the mirror is excluded, and when the
// last audit finished. Read from TrustState at scrape time.
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
}
