// Freshness from promotion (issue 9): lag counts from the ledger's promotion time, objects are
// timed once when they first arrive on a mirror, and objects already there when the redirector
// first looked are not timed (their arrival is unknown).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { AuditFinding, AuditResult } from '../../src/trust/audit.js';
import { emptyLedger, imageLedger, serialiseLedger } from '../../src/promoter/ledger.js';
import { ExpectedContent, loadExpected, type ExpectedRoute } from '../../src/trust/expected.js';
import { registerTrustMetrics } from '../../src/trust/metrics.js';
import { TrustState } from '../../src/trust/state.js';
import { compile } from '../helpers/config.js';
import { tempDir } from '../helpers/temp-dir.js';

const T0 = Date.parse('2026-11-30T12:00:00.000Z');
const SHA = 'a'.repeat(64);
const D1 = `sha256:${'1'.repeat(64)}`;

function expected(promoted: Record<string, number>): ExpectedContent {
  const route: ExpectedRoute = {
    prefix: '/',
    type: 'binary',
    images: new Map(),
    files: new Map(Object.keys(promoted).map((k) => [k.slice('file:/'.length), SHA])),
    imagePrefixes: new Set(),
    retiring: new Set(),
    promotedAt: new Map(Object.entries(promoted)),
  };
  return new ExpectedContent(new Map([['/', route]]));
}

function pass(trust: TrustState, at: number, findings: AuditFinding[], seen: Record<string, number> = {}): AuditResult {
  return {
    startedAt: new Date(at),
    finishedAt: new Date(at + 5000),
    mirrors: ['eu'],
    findings,
    proofs: new Map(),
    expected: trust.expected,
    requests: 0,
    sampledBytes: 0,
    seen: new Map([['eu', new Map(Object.entries(seen))]]),
  };
}
const missing = (key: string): AuditFinding => ({ mirror: 'eu', object: key, problem: 'missing', scope: 'object', key });

test('lag counts from the promotion time in the ledger, and each arrival is timed once', (t) => {
  const trust = new TrustState();
  trust.expected = expected({ 'file:/old': T0 - 3_600_000, 'file:/a': T0 - 30_000 });
  // Pass 1: /a promoted 30 s before, not there yet.
  trust.setAudit(pass(trust, T0, [missing('file:/a')]));
  // Then /c is promoted, and the redirector reloads the ledgers.
  trust.expected = expected({ 'file:/old': T0 - 3_600_000, 'file:/a': T0 - 30_000, 'file:/c': T0 + 5_000 });
  t.like(trust.freshness('eu', T0 + 10_000), { behind: 1, oldestLagSeconds: 40, lagsMeasured: 0 });
  t.is(trust.freshness('eu', T0 + 10_000)?.medianLagSeconds, undefined);
  // What pass 2 times: /a (missing before) and /c (promoted after pass 1 began), not /old.
  t.true(trust.watch('eu', 'file:/a'));
  t.true(trust.watch('eu', 'file:/c'));
  t.false(trust.watch('eu', 'file:/old'), 'expected and seen before: its arrival is unknown');
  // Pass 2 sees both: /a 91 s after its promotion, /c 57 s after.
  trust.setAudit(pass(trust, T0 + 60_000, [], { 'file:/a': T0 + 61_000, 'file:/c': T0 + 62_000 }));
  t.deepEqual(trust.freshness('eu', T0 + 70_000), { behind: 0, oldestLagSeconds: 0, lagsMeasured: 2, medianLagSeconds: 74 });
  t.deepEqual(trust.lastLags.get('eu'), [91, 57]);
  // Pass 3 does not time them again.
  t.false(trust.watch('eu', 'file:/a'));
  t.false(trust.watch('eu', 'file:/c'));
});

test('/metrics: objects behind, the oldest lag from promotion, the median lag', async (t) => {
  const trust = new TrustState();
  const now = Date.now();
  trust.expected = expected({ 'file:/a': now - 120_000, 'file:/b': now - 10_000 });
  trust.setAudit(pass(trust, now - 1000, [missing('file:/a'), missing('file:/b')]));
  const registry = new Registry();
  registerTrustMetrics(registry, trust, () => ['eu']);
  const text = await registry.metrics();
  t.regex(text, /artifact_trust_objects_behind\{mirror="eu"\} 2/);
  const oldest = Number(/artifact_trust_oldest_lag_seconds\{mirror="eu"\} ([\d.]+)/.exec(text)?.[1]);
  t.true(oldest >= 120 && oldest < 180, `oldest lag ${oldest}`);
  t.regex(text, /artifact_trust_median_lag_seconds\{mirror="eu"\} 0/);
});

test('expected content carries the ledgers’ promotion times under the audit’s keys', async (t) => {
  const images = tempDir('artifact-serving-fresh-');
  const files = tempDir('artifact-serving-fresh-');
  const il = emptyLedger();
  imageLedger(il, 'pause').digests.add(D1);
  imageLedger(il, 'pause').tags.set('1.0', D1);
  il.promoted = new Map([
    [`pause@${D1}`, '2026-11-30T12:00:00.000Z'],
    ['pause:1.0', '2026-11-30T12:00:01.000Z'],
  ]);
  writeFileSync(join(images, 'images--kops.json'), serialiseLedger(il, 'images/kops', 'eu.example/prod/kops'));
  const fl = emptyLedger();
  fl.files.set('kubectl', SHA).set('unstamped', SHA);
  fl.promoted = new Map([['kubectl', '2026-11-30T12:00:02.000Z']]);
  writeFileSync(join(files, 'files--rel.json'), serialiseLedger(fl, 'files/rel', 's3://eu-bucket/releases/'));
  const config = compile(`
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
  eu-files: { url: https://eu-files.example, probe: false }
routes:
  - { prefix: /v2/, default: eu-reg }
  - { prefix: /releases, default: eu-files }
trust:
  expected:
    - { route: /v2/, ledgers: ${images}, root: prod }
    - { route: /releases, ledgers: ${files} }
`);
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) return t.fail(JSON.stringify(loaded.problems));
  t.is(loaded.expected.promotedAt(`manifest:kops/pause:${D1}`), T0);
  t.is(loaded.expected.promotedAt('manifest:kops/pause:1.0'), T0 + 1000);
  t.is(loaded.expected.promotedAt('file:/releases/kubectl'), T0 + 2000);
  t.is(loaded.expected.promotedAt('file:/releases/unstamped'), undefined);
});
