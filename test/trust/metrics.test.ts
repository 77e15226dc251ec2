// Freshness: objects behind per mirror and how long the oldest has been missing, kept across
// audits while it stays missing; on /metrics with the findings and exclusions.
import test from 'ava';
import { Registry } from 'prom-client';
import type { AuditFinding, AuditResult } from '../../src/trust/audit.js';
import { NO_EXPECTED } from '../../src/trust/expected.js';
import { registerTrustMetrics } from '../../src/trust/metrics.js';
import { TrustState } from '../../src/trust/state.js';

function result(at: number, findings: AuditFinding[]): AuditResult {
  return { startedAt: new Date(at), finishedAt: new Date(at + 1000), mirrors: ['eu', 'us'], findings, proofs: new Map(), expected: NO_EXPECTED, requests: 0, sampledBytes: 0 };
}
const missing = (mirror: string, key: string): AuditFinding => ({ mirror, object: key, problem: 'missing', scope: 'object', key });

test('the oldest lag counts from the first audit that found an object missing', async (t) => {
  const trust = new TrustState();
  const t0 = 1_000_000;
  trust.setAudit(result(t0, [missing('eu', 'file:/a')]));
  trust.setAudit(result(t0 + 60_000, [missing('eu', 'file:/a'), missing('eu', 'file:/b'), { mirror: 'us', object: 'x', problem: 'bytes differ', scope: 'mirror', key: 'file:/x' }]));
  t.deepEqual(trust.freshness('eu', t0 + 90_000), { behind: 2, oldestLagSeconds: 90, lagsMeasured: 0 });
  t.deepEqual(trust.freshness('us', t0 + 90_000), { behind: 0, oldestLagSeconds: 0, lagsMeasured: 0 });
  // Caught up with /a: the lag is /b's.
  trust.setAudit(result(t0 + 120_000, [missing('eu', 'file:/b')]));
  t.deepEqual(trust.freshness('eu', t0 + 180_000), { behind: 1, oldestLagSeconds: 120, lagsMeasured: 0 });

  const registry = new Registry();
  registerTrustMetrics(registry, trust, () => ['eu', 'us']);
  trust.setAudit(result(Date.now(), [missing('eu', 'file:/b'), { mirror: 'us', object: 'x', problem: 'bytes differ', scope: 'mirror', key: 'file:/x' }]));
  const text = await registry.metrics();
  t.regex(text, /artifact_trust_objects_behind\{mirror="eu"\} 1/);
  t.regex(text, /artifact_trust_findings\{mirror="us"\} 1/);
  t.regex(text, /artifact_trust_excluded\{mirror="us"\} 1/);
  t.regex(text, /artifact_trust_excluded\{mirror="eu"\} 0/);
  t.regex(text, /artifact_trust_last_audit_timestamp_seconds [1-9]/);
});
