// The audit's line in the access log (issue 9, freshness): after each background audit pass,
// `serve` writes one JSON line per mirror with `type: "audit"`, so `report` can show how far each
// mirror lags behind production from the same file it reads requests from. Request lines have no
// `type`; the report's parser tells them apart and leaves audit lines out of the request figures.
import type { AuditResult } from './audit.js';
import type { TrustState } from './state.js';

export interface AuditLogEntry {
  /** Epoch milliseconds, as on request lines. */
  time: number;
  type: 'audit';
  mirror: string;
  /** Promoted objects the pass found missing on the mirror. */
  behind: number;
  /** Seconds since the oldest of them was promoted. */
  oldestLagSeconds: number;
  /** Lags (seconds, promotion to the audit seeing the object) measured by this pass. */
  lags: number[];
}

/** One line per mirror the pass covered. */
export function auditLogEntries(trust: TrustState, result: AuditResult, now = Date.now()): AuditLogEntry[] {
  return result.mirrors.map((mirror) => {
    const f = trust.freshness(mirror, now);
    const round = (s: number) => Math.round(s * 1000) / 1000;
    return { time: now, type: 'audit', mirror, behind: f?.behind ?? 0, oldestLagSeconds: round(f?.oldestLagSeconds ?? 0), lags: (trust.lastLags.get(mirror) ?? []).map(round) };
  });
}

/** An audit line of the access log, checked; undefined when the line is not one (a request line). */
export function parseAuditLine(line: string): { ok: true; audit: AuditLogEntry } | { ok: false; reason: string } | undefined {
  // Cheap first: request lines, the vast majority, never carry a type.
  if (!line.includes('"type":"audit"')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof o !== 'object' || o === null || o.type !== 'audit') return undefined;
  const seconds = (v: unknown) => typeof v === 'number' && v >= 0;
  if (typeof o.time !== 'number' || !Number.isFinite(o.time)) return { ok: false, reason: 'audit line: time is not epoch milliseconds' };
  if (typeof o.mirror !== 'string' || o.mirror === '') return { ok: false, reason: 'audit line: mirror is not a name' };
  if (typeof o.behind !== 'number' || !Number.isInteger(o.behind) || o.behind < 0) return { ok: false, reason: 'audit line: behind is not a count' };
  if (!seconds(o.oldestLagSeconds)) return { ok: false, reason: 'audit line: oldestLagSeconds is not seconds' };
  if (!Array.isArray(o.lags) || !o.lags.every(seconds)) return { ok: false, reason: 'audit line: lags is not a list of seconds' };
  return { ok: true, audit: { time: o.time, type: 'audit', mirror: o.mirror, behind: o.behind, oldestLagSeconds: o.oldestLagSeconds as number, lags: o.lags as number[] } };
}
