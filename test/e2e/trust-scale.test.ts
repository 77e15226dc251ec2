// Mirror trust at k8s.io's size (issue 9's target): the expected content from kubernetes/k8s.io's
// real image manifests (../shared/testdata), and the audit state for 20 mirrors holding all of it
// (every tag proven, every signature set complete, a finding per 100 objects) and the background
// audit's plan over them (one unit per object and mirror), in well under 512 MiB of heap; and
// decide() with that state loaded costs microseconds per request.
import test from 'ava';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decide } from '../../src/decision/decide.js';
import type { Availability, MirrorStateView } from '../../src/mirrors/state-view.js';
import { newProof, planAudit, prove, type AuditFinding, type AuditResult, type MirrorProof } from '../../src/trust/audit.js';
import { AuditScrubber } from '../../src/trust/scrubber.js';
import { loadExpected } from '../../src/trust/expected.js';
import { TrustState } from '../../src/trust/state.js';
import { compile, SHARED_TESTDATA } from '../helpers/config.js';

const MANIFESTS = join(SHARED_TESTDATA, 'promoter/k8s.io/registry.k8s.io');
const MIRRORS = 20;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test("expected content of k8s.io's image manifests and audit state for 20 mirrors fit far below 512 MiB", async (t) => {
  t.timeout(300_000);
  const names = Array.from({ length: MIRRORS }, (_, i) => `ar-${i}`);
  const config = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
${names.map((n) => `  ${n}: { registry: https://${n}-docker.pkg.dev, repository: k8s-artifacts-prod/images, probe: false }`).join('\n')}
  origin: { registry: https://origin-docker.pkg.dev, repository: k8s-artifacts-prod/images, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: [${names.slice(0, 10).join(', ')}] }
    default: [${names.slice(10).join(', ')}]
    origin: origin
trust:
  expected:
    - { route: /v2/, manifests: ${MANIFESTS} }
`);
  gc();
  const base = process.memoryUsage().heapUsed;
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) return t.fail(loaded.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
  const expected = loaded.expected;
  gc();
  const afterExpected = process.memoryUsage().heapUsed;
  const counts = expected.counts();
  t.true(counts.digests > 1000, `k8s.io's manifests name ${counts.digests} digests`);

  const trust = new TrustState();
  trust.apply(config, expected);
  const route = expected.route('/v2')!;
  const proofs = new Map<string, MirrorProof>();
  const findings: AuditFinding[] = [];
  let n = 0;
  for (const mirror of names) {
    const proof = newProof(expected);
    for (const [name, image] of route.images) {
      for (const tag of image.tags.keys()) prove(proof, expected, '/v2', `${name}:${tag}`);
      for (const digest of image.digests) {
        prove(proof, expected, '/v2', `${name}@${digest}`);
        // Each image digest stands for an index, its platform manifests and their blobs: ~10 objects.
        proof.verified += 10;
        if (++n % 100 === 0) findings.push({ mirror, object: `${name}@${digest}`, problem: 'blob missing', scope: 'object', key: `blob:${name}@${digest}` });
      }
    }
    proofs.set(mirror, proof);
  }
  const result: AuditResult = { startedAt: new Date(), finishedAt: new Date(), mirrors: names, findings, proofs, expected, requests: 0, sampledBytes: 0 };
  trust.setAudit(result);
  gc();
  const afterAudit = process.memoryUsage().heapUsed;
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  t.log(`${counts.images} images, ${counts.digests} digests, ${counts.tags} tags: expected content ${mib(afterExpected - base)} MiB; audit state for ${MIRRORS} mirrors ${mib(afterAudit - afterExpected)} MiB`);
  // serve's background audit also holds its plan: one unit per object and mirror, and the scrubber's cycle order.
  const scrubber = new AuditScrubber({ sliceMs: 10_000, intervalMs: 3_600_000 });
  const plan = planAudit(config, expected, { requestsPerSecond: 20, sampleBytes: 0 });
  scrubber.setPlan(plan);
  await scrubber.step();
  gc();
  const afterPlan = process.memoryUsage().heapUsed;
  t.log(`background audit plan: ${plan.units.length} units (objects x mirrors), ${mib(afterPlan - afterAudit)} MiB`);
  t.true(afterPlan - base < 512 * 2 ** 20);
  // Far below, in fact: a regression that multiplies it would still show here.
  t.true(afterAudit - base < 64 * 2 ** 20, `${mib(afterAudit - base)} MiB`);
  t.true(afterPlan - afterAudit < 160 * 2 ** 20, `plan: ${mib(afterPlan - afterAudit)} MiB`);

  // decide() with the state loaded: a tag request checks the promoted digest on each mirror.
  const [name, image] = [...route.images].find(([, i]) => i.tags.size > 0)!;
  const [tag, digest] = [...image.tags][0]!;
  const present: Availability = { state: 'present', checkedAt: Date.now(), digest };
  const state: MirrorStateView = { health: () => ({ up: true }), availability: () => present, trust };
  const facts = { method: 'GET', path: `/v2/${name}/manifests/${tag}`, query: '', peerAddress: '127.0.0.1', forwardedFor: '81.2.69.160' };
  const decision = decide(facts, config, state);
  t.like(decision, { kind: 'redirect', mirror: { name: 'ar-0' } });
  const plain: MirrorStateView = { health: () => ({ up: true }), availability: () => present };
  const time = (view: MirrorStateView) => {
    const rounds = 20_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) decide(facts, config, view);
    return Number(process.hrtime.bigint() - started) / rounds / 1000;
  };
  time(state);
  time(plain);
  // Interleaved, best of three each: the machine is shared.
  const withTrust = Math.min(time(state), time(state), time(state));
  const without = Math.min(time(plain), time(plain), time(plain));
  t.log(`decide() for a tag: ${withTrust.toFixed(2)} µs with trust loaded, ${without.toFixed(2)} µs without (ratio ${(withTrust / without).toFixed(2)})`);
  t.true(withTrust < 500);
});
