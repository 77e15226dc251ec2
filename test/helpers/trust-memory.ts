// Mirror trust at k8s.io's size (issue 9): the heap that the expected content from
// kubernetes/k8s.io's real image manifests takes, then the audit state for `mirrors` mirrors
// holding all of it (every tag proven, every signature set complete, a finding per 100 objects),
// then serve's background audit plan over them (one unit per object and mirror). Shared by
// test/e2e/trust-scale.test.ts (a regression check) and bench/trust-memory.ts (`npm run bench`).
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CompiledConfig } from '../../src/config/compiled.js';
import { newProof, planAudit, prove, type AuditFinding, type AuditResult, type MirrorProof } from '../../src/trust/audit.js';
import type { ExpectedContent } from '../../src/trust/expected.js';
import { loadExpected } from '../../src/trust/expected.js';
import { AuditScrubber } from '../../src/trust/scrubber.js';
import { TrustState } from '../../src/trust/state.js';
import { compile, SHARED_TESTDATA } from './config.js';

export const K8S_IMAGE_MANIFESTS = join(SHARED_TESTDATA, 'promoter/k8s.io/registry.k8s.io');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

export interface TrustMemory {
  config: CompiledConfig;
  expected: ExpectedContent;
  trust: TrustState;
  counts: ReturnType<ExpectedContent['counts']>;
  /** Heap bytes each part added. */
  expectedBytes: number;
  auditBytes: number;
  planBytes: number;
  units: number;
}

export async function measureTrustMemory(mirrors: number): Promise<TrustMemory> {
  const names = Array.from({ length: mirrors }, (_, i) => `ar-${i}`);
  const half = Math.ceil(mirrors / 2);
  const config = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
${names.map((n) => `  ${n}: { registry: https://${n}-docker.pkg.dev, repository: k8s-artifacts-prod/images, probe: false }`).join('\n')}
  origin: { registry: https://origin-docker.pkg.dev, repository: k8s-artifacts-prod/images, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: [${names.slice(0, half).join(', ')}] }
    default: [${names.slice(half).join(', ')}]
    origin: origin
trust:
  expected:
    - { route: /v2/, manifests: ${K8S_IMAGE_MANIFESTS} }
`);
  const base = heapAfterGc();
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
  const expected = loaded.expected;
  const afterExpected = heapAfterGc();

  const trust = new TrustState();
  trust.apply(config, expected);
  const route = expected.route('/v2');
  if (!route) throw new Error('no expected content for /v2/');
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
  const afterAudit = heapAfterGc();

  const scrubber = new AuditScrubber({ sliceMs: 10_000, intervalMs: 3_600_000 });
  const plan = planAudit(config, expected, { requestsPerSecond: 20, sampleBytes: 0 });
  scrubber.setPlan(plan);
  await scrubber.step();
  const afterPlan = heapAfterGc();
  return { config, expected, trust, counts: expected.counts(), expectedBytes: afterExpected - base, auditBytes: afterAudit - afterExpected, planBytes: afterPlan - afterAudit, units: plan.units.length };
}

export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
