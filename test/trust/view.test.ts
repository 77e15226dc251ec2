// Routing by proof through decide(): tags only to mirrors whose tag points at the promoted digest,
// signature tags only to mirrors with the complete set, audit findings and ownership take out
// an object or the whole mirror. The state is hand-made: no I/O.
import test from 'ava';
import { decide, type Decision } from '../../src/decision/decide.js';
import type { Availability, MirrorStateView } from '../../src/mirrors/state-view.js';
import type { AuditResult } from '../../src/trust/audit.js';
import { newProof, prove } from '../../src/trust/audit.js';
import { loadExpected } from '../../src/trust/expected.js';
import { TrustState } from '../../src/trust/state.js';
import { compile, writePromoterManifests } from '../helpers/config.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const GB = '81.2.69.160';

function setup(ownership = '') {
  const root = writePromoterManifests('eu.example/prod/kops', D1);
  return compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
  eu2-reg: { registry: https://eu2.example, repository: prod, probe: false }
  origin-reg: { registry: https://origin.example, repository: prod, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: [eu-reg, eu2-reg] }
    default: eu-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${root} }
${ownership}`);
}

function view(answers: Record<string, Availability>, trust: TrustState): MirrorStateView {
  return { health: () => ({ up: true }), availability: (mirror, key) => answers[`${mirror} ${key}`], trust };
}

async function trustFor(config: ReturnType<typeof setup>): Promise<TrustState> {
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) throw new Error('expected content should load');
  const trust = new TrustState();
  trust.apply(config, loaded.expected);
  return trust;
}

function audit(trust: TrustState, partial: Partial<AuditResult>, proven: Record<string, string[]> = {}): AuditResult {
  const proofs = new Map(
    Object.entries(proven).map(([mirror, keys]) => {
      const proof = newProof(trust.expected);
      for (const key of keys) prove(proof, trust.expected, '/v2', key);
      return [mirror, proof];
    }),
  );
  return { startedAt: new Date(), finishedAt: new Date(), mirrors: ['eu-reg', 'eu2-reg'], findings: [], proofs, expected: trust.expected, requests: 0, sampledBytes: 0, ...partial };
}

function go(config: ReturnType<typeof setup>, state: MirrorStateView, path: string): Decision {
  return decide({ method: 'GET', path, query: '', peerAddress: '127.0.0.1', forwardedFor: GB, checksDone: true }, config, state);
}

const present = (digest?: string): Availability => ({ state: 'present', checkedAt: Date.now(), ...(digest && { digest }) });

test('a tag goes only to a mirror whose tag points at the promoted digest', async (t) => {
  const config = setup();
  const trust = await trustFor(config);
  const tag = 'manifest:kops/pause:1.0';
  const moved = go(config, view({ [`eu-reg ${tag}`]: present(D2), [`eu2-reg ${tag}`]: present(D1) }, trust), '/v2/kops/pause/manifests/1.0');
  t.like(moved, { kind: 'redirect', mirror: { name: 'eu2-reg' } });
  if (moved.kind === 'redirect') t.regex(moved.verdicts.find((v) => v.mirror === 'eu-reg')!.reason!, /tag points at sha256:2{12}… here, promoted sha256:1{12}…/);
  // No digest from the HEAD and no audit: not proven, so the origin.
  const unproven = go(config, view({ [`eu-reg ${tag}`]: present(), [`eu2-reg ${tag}`]: present() }, trust), '/v2/kops/pause/manifests/1.0');
  t.like(unproven, { kind: 'redirect', mirror: { name: 'origin-reg' } });
  // The audit's proof is enough.
  trust.setAudit(audit(trust, {}, { 'eu-reg': ['kops/pause:1.0'] }));
  t.like(go(config, view({ [`eu-reg ${tag}`]: present() }, trust), '/v2/kops/pause/manifests/1.0'), { kind: 'redirect', mirror: { name: 'eu-reg' } });
  // A tag nobody promoted is not held back.
  t.like(go(config, view({ [`eu-reg manifest:kops/pause:dev`]: present(D2) }, trust), '/v2/kops/pause/manifests/dev'), { kind: 'redirect', mirror: { name: 'eu-reg' } });
});

test("signature tags go to a mirror only with the image's complete set, else to the origin", async (t) => {
  const config = setup();
  const trust = await trustFor(config);
  const sig = `sha256-${'1'.repeat(64)}.sig`;
  const answers = { [`eu-reg manifest:kops/pause:${sig}`]: present(), [`eu2-reg manifest:kops/pause:${sig}`]: present() };
  const none = go(config, view(answers, trust), `/v2/kops/pause/manifests/${sig}`);
  t.like(none, { kind: 'redirect', mirror: { name: 'origin-reg' } });
  if (none.kind === 'redirect') t.regex(none.verdicts[0]!.reason!, /signatures of sha256:1{12}… not proven complete here/);
  trust.setAudit(audit(trust, {}, { 'eu2-reg': [`kops/pause@${D1}`] }));
  t.like(go(config, view(answers, trust), `/v2/kops/pause/manifests/${sig}`), { kind: 'redirect', mirror: { name: 'eu2-reg' } });
});

test('an audit finding takes the object out; altered bytes the whole mirror', async (t) => {
  const config = setup();
  const trust = await trustFor(config);
  const blob = `sha256:${'a'.repeat(64)}`;
  const other = `sha256:${'b'.repeat(64)}`;
  const answers = { [`eu-reg blob:kops/pause@${blob}`]: present(), [`eu-reg blob:kops/pause@${other}`]: present(), [`eu2-reg blob:kops/pause@${blob}`]: present() };
  trust.setAudit(audit(trust, { findings: [{ mirror: 'eu-reg', object: `kops/pause@${blob}`, problem: 'blob missing', scope: 'object', key: `blob:kops/pause@${blob}` }] }));
  t.like(go(config, view(answers, trust), `/v2/kops/pause/blobs/${blob}`), { kind: 'redirect', mirror: { name: 'eu2-reg' } });
  t.like(go(config, view(answers, trust), `/v2/kops/pause/blobs/${other}`), { kind: 'redirect', mirror: { name: 'eu-reg' } });
  trust.setAudit(audit(trust, { findings: [{ mirror: 'eu-reg', object: `kops/pause@${blob}`, problem: 'bytes differ', scope: 'mirror', key: `blob:kops/pause@${blob}` }] }));
  const out = go(config, view(answers, trust), `/v2/kops/pause/blobs/${other}`);
  t.like(out, { kind: 'redirect', mirror: { name: 'origin-reg' } });
  if (out.kind === 'redirect') t.regex(out.verdicts[0]!.reason!, /^excluded: kops\/pause@sha256:a+: bytes differ/);
});

test('with ownership on, a mirror is out until its token is proven', async (t) => {
  const config = setup('  ownership: { key: 0123456789abcdef0123 }');
  const trust = await trustFor(config);
  const blob = `sha256:${'a'.repeat(64)}`;
  const answers = { [`eu-reg blob:kops/pause@${blob}`]: present(), [`eu2-reg blob:kops/pause@${blob}`]: present() };
  const before = go(config, view(answers, trust), `/v2/kops/pause/blobs/${blob}`);
  t.like(before, { kind: 'redirect', mirror: { name: 'origin-reg' } });
  if (before.kind === 'redirect') t.is(before.verdicts[0]!.reason, 'excluded: ownership token not checked yet');
  trust.setOwnership('eu-reg', 'ownership token missing');
  trust.setOwnership('eu2-reg', undefined);
  t.like(go(config, view(answers, trust), `/v2/kops/pause/blobs/${blob}`), { kind: 'redirect', mirror: { name: 'eu2-reg' } });
  t.deepEqual(
    trust.status(['eu-reg', 'eu2-reg']).map((s) => [s.mirror, s.ownership, s.excluded]),
    [
      ['eu-reg', 'failed', 'ownership token missing'],
      ['eu2-reg', 'ok', undefined],
    ],
  );
});
