// The audit's lines in the access log (issue 9): told apart from request lines, checked, and
// folded into per-mirror freshness (the last pass's figures, the median of every lag).
import test from 'ava';
import { FreshnessAggregates } from '../../src/report/freshness.js';
import { parseAuditLine } from '../../src/trust/audit-log.js';

const line = (o: object) => JSON.stringify({ time: 1_000, type: 'audit', mirror: 'eu', behind: 0, oldestLagSeconds: 0, lags: [], ...o });

test('request lines are not audit lines; a bad audit line says what is wrong', (t) => {
  t.is(parseAuditLine('{"time":1,"method":"GET","path":"/x","status":302,"ip":"1.2.3.4","ms":0.1}'), undefined);
  t.like(parseAuditLine(line({ behind: 2 })), { ok: true, audit: { mirror: 'eu', behind: 2 } });
  t.deepEqual(parseAuditLine(line({ behind: -1 })), { ok: false, reason: 'audit line: behind is not a count' });
  t.deepEqual(parseAuditLine(line({ lags: [1, 'x'] })), { ok: false, reason: 'audit line: lags is not a list of seconds' });
  t.deepEqual(parseAuditLine(`${line({})}}`), { ok: false, reason: 'not JSON' });
});

test('per mirror: the latest pass’s behind and oldest lag, the median of all lags', (t) => {
  const agg = new FreshnessAggregates();
  for (const l of [line({ time: 2_000, behind: 3, oldestLagSeconds: 50, lags: [10] }), line({ time: 1_000, behind: 9, lags: [30, 20] }), line({ mirror: 'us', time: 1_500 })]) {
    const parsed = parseAuditLine(l);
    if (parsed?.ok) agg.add(parsed.audit);
  }
  t.deepEqual(agg.rows(), [
    { mirror: 'eu', at: new Date(2_000).toISOString(), behind: 3, oldestLagSeconds: 50, medianLagSeconds: 20, lagsMeasured: 3, passes: 2 },
    { mirror: 'us', at: new Date(1_500).toISOString(), behind: 0, oldestLagSeconds: 0, medianLagSeconds: null, lagsMeasured: 0, passes: 1 },
  ]);
});
