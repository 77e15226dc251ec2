// Mirror trust at k8s.io's size (issue 9's target): the expected content from kubernetes/k8s.io's
// real image manifests (../shared/testdata), and the audit state for 20 mirrors holding all of it
// (every tag proven, every signature set complete, a finding per 100 objects) and the background
// audit's plan over them (one unit per object and mirror), in well under 512 MiB of heap; and
// decide() with that state loaded costs microseconds per request.
import test from 'ava';
import { decide } from '../../src/decision/decide.js';
import type { Availability, MirrorStateView } from '../../src/mirrors/state-view.js';
import { measureTrustMemory, mib } from '../helpers/trust-memory.js';

const MIRRORS = 20;

test("expected content of k8s.io's image manifests and audit state for 20 mirrors fit far below 512 MiB", async (t) => {
  t.timeout(300_000);
  const { config, expected, trust, counts, expectedBytes, auditBytes, planBytes, units } = await measureTrustMemory(MIRRORS);
  t.true(counts.digests > 1000, `k8s.io's manifests name ${counts.digests} digests`);
  t.log(`${counts.images} images, ${counts.digests} digests, ${counts.tags} tags: expected content ${mib(expectedBytes)} MiB; audit state for ${MIRRORS} mirrors ${mib(auditBytes)} MiB`);
  t.log(`background audit plan: ${units} units (objects x mirrors), ${mib(planBytes)} MiB`);
  t.true(expectedBytes + auditBytes + planBytes < 512 * 2 ** 20);
  // Far below, in fact: a regression that multiplies it would still show here.
  t.true(expectedBytes + auditBytes < 64 * 2 ** 20, `${mib(expectedBytes + auditBytes)} MiB`);
  t.true(planBytes < 160 * 2 ** 20, `plan: ${mib(planBytes)} MiB`);

  // decide() with the state loaded: a tag request checks the promoted digest on each mirror.
  const route = expected.route('/v2')!;
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
