// Mirror freshness in the report (issue 9): from the audit lines `serve` writes into the access
// log (src/trust/audit-log.ts), per mirror the last pass's objects behind and oldest lag, and the
// median of every lag measured in the log.
import type { AuditLogEntry } from '../trust/audit-log.js';
import { median } from '../util/median.js';

export interface FreshnessRow {
  mirror: string;
  /** When the last audit line for the mirror was written (ISO). */
  at: string;
  behind: number;
  oldestLagSeconds: number;
  medianLagSeconds: number | null;
  lagsMeasured: number;
  passes: number;
}

export class FreshnessAggregates {
  private byMirror = new Map<string, { last: AuditLogEntry; lags: number[]; passes: number }>();

  add(entry: AuditLogEntry): void {
    const m = this.byMirror.get(entry.mirror);
    if (!m) {
      this.byMirror.set(entry.mirror, { last: entry, lags: [...entry.lags], passes: 1 });
      return;
    }
    if (entry.time >= m.last.time) m.last = entry;
    m.lags.push(...entry.lags);
    m.passes++;
  }

  rows(): FreshnessRow[] {
    return [...this.byMirror]
      .map(([mirror, m]) => ({
        mirror,
        at: new Date(m.last.time).toISOString(),
        behind: m.last.behind,
        oldestLagSeconds: m.last.oldestLagSeconds,
        medianLagSeconds: median(m.lags) ?? null,
        lagsMeasured: m.lags.length,
        passes: m.passes,
      }))
      .sort((a, b) => b.behind - a.behind || b.oldestLagSeconds - a.oldestLagSeconds || a.mirror.localeCompare(b.mirror));
  }
}
