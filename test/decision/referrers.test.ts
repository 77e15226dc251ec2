// Referrers by proof (issue 9): a `/referrers/<digest>` request goes to a mirror only when the
// last audit found that mirror's referrers list for the digest the same set as the origin's;
// otherwise the origin answers (never an empty or partial list where the origin has entries).
import test from 'ava';
import { decide } from '../../src/decision/decide.js';
import type { MirrorStateView } from '../../src/mirrors/state-view.js';
import { newProof, prove, PROVEN, REFERRERS } from '../../src/trust/audit.js';
import { loadExpected } from '../../src/trust/expected.js';
import { TrustState } from '../../src/trust/state.js';
import { compile, writePromoterManifests } from '../helpers/config.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const UNKNOWN = `sha256:${'9'.repeat(64)}`;

async function setup() {
  const root = writePromoterManifests('eu.example/prod/kops', D1);
  const config = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
  origin-reg: { registry: https://origin.example, repository: prod, probe: false }
routes:
  - { prefix: /v2/, default: eu-reg, origin: origin-reg }
trust:
  expected:
    - { route: /v2/, manifests: ${root} }
`);
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) throw new Error('expected content should load');
  const trust = new TrustState();
  trust.apply(config, loaded.expected);
  return { config, trust };
}

const ROWS: { name: string; bits: number[]; digest: string; mirror: string }[] = [
  { name: 'no audit yet', bits: [], digest: D1, mirror: 'origin-reg' },
  { name: 'signatures proven, referrers not (list incomplete or differs)', bits: [PROVEN], digest: D1, mirror: 'origin-reg' },
  { name: 'the referrers list proven the same as the origin’s', bits: [REFERRERS], digest: D1, mirror: 'eu-reg' },
  { name: 'both proven', bits: [PROVEN, REFERRERS], digest: D1, mirror: 'eu-reg' },
  { name: 'a digest the expected content does not name', bits: [REFERRERS], digest: UNKNOWN, mirror: 'origin-reg' },
];

for (const row of ROWS) {
  test(`referrers: ${row.name} -> ${row.mirror}`, async (t) => {
    const { config, trust } = await setup();
    if (row.bits.length > 0) {
      const proof = newProof(trust.expected);
      for (const bit of row.bits) prove(proof, trust.expected, '/v2', `kops/pause@${D1}`, bit);
      trust.setAudit({ startedAt: new Date(), finishedAt: new Date(), mirrors: ['eu-reg'], findings: [], proofs: new Map([['eu-reg', proof]]), expected: trust.expected, requests: 0, sampledBytes: 0 });
    }
    const state: MirrorStateView = { health: () => ({ up: true }), availability: () => undefined, trust };
    const out = decide(
      { method: 'GET', path: `/v2/kops/pause/referrers/${row.digest}`, query: 'artifactType=application%2Fexample', peerAddress: '127.0.0.1', forwardedFor: '81.2.69.160', checksDone: true },
      config,
      state,
    );
    t.like(out, { kind: 'redirect', mirror: { name: row.mirror } });
    if (out.kind !== 'redirect') return;
    t.true(out.location.endsWith(`/referrers/${row.digest}?artifactType=application%2Fexample`), out.location);
    if (row.mirror === 'origin-reg') t.regex(out.verdicts.find((v) => v.mirror === 'eu-reg')?.reason ?? '', /referrers are served from the origin/);
  });
}

test('a referrers proof counts only for the mirror the audit proved it on', async (t) => {
  const { trust } = await setup();
  const proof = newProof(trust.expected);
  prove(proof, trust.expected, '/v2', `kops/pause@${D1}`, REFERRERS);
  trust.setAudit({ startedAt: new Date(), finishedAt: new Date(), mirrors: ['eu-reg'], findings: [], proofs: new Map([['eu-reg', proof]]), expected: trust.expected, requests: 0, sampledBytes: 0 });
  t.true(trust.referrersComplete('eu-reg', '/v2', 'kops/pause', D1));
  t.false(trust.referrersComplete('other-reg', '/v2', 'kops/pause', D1));
  t.false(trust.signaturesComplete('eu-reg', '/v2', 'kops/pause', D1), 'the two proofs are separate bits');
});
