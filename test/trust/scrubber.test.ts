// The incremental background audit (src/trust/scrubber.ts) with a fake clock and a fake file
// mirror: a slice's findings and clears apply before the cycle ends, a reload's new objects go
// first and their lag is measured, a moved tag's proof does not carry over, and the progress of a
// cycle is visible. No sockets: the mirror is a fetch function, each request a second of fake time.
import test from 'ava';
import { planAudit } from '../../src/trust/audit.js';
import { ExpectedContent, type ExpectedRoute } from '../../src/trust/expected.js';
import { AuditScrubber, type StepResult } from '../../src/trust/scrubber.js';
import { TrustState } from '../../src/trust/state.js';
import { compile } from '../helpers/config.js';

const SHA = 'a'.repeat(64);
const config = compile(`
mirrors:
  eu: { url: https://eu.example, probe: false }
routes:
  - { prefix: /releases, default: eu }
trust:
  expected: []
`);

function files(names: string[], promoted: Record<string, number> = {}): ExpectedContent {
  const route: ExpectedRoute = {
    prefix: '/releases',
    type: 'binary',
    images: new Map(),
    files: new Map(names.map((n) => [n, SHA])),
    imagePrefixes: new Set(),
    retiring: new Set(),
    promotedAt: new Map(Object.entries(promoted)),
  };
  return new ExpectedContent(new Map([['/releases', route]]));
}

/** A file mirror holding `held`; each request takes one second of the fake clock. */
function fakeMirror(clock: { now: number }, held: Set<string>, asked: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = String(input);
    asked.push(url);
    clock.now += 1000;
    const name = url.replace('https://eu.example/', '');
    return held.has(name) ? new Response(null, { status: 200, headers: { 'content-length': '1' } }) : new Response(null, { status: 404 });
  }) as typeof fetch;
}

const NAMES = Array.from({ length: 60 }, (_, i) => `f${String(i).padStart(2, '0')}`);

function setup(held: Set<string>, expected = files(NAMES), asked: string[] = []) {
  const clock = { now: Date.parse('2026-12-01T00:00:00Z') };
  const trust = new TrustState();
  trust.apply(config, expected);
  const plan = () => planAudit(config, trust.expected, { requestsPerSecond: 1e6, sampleBytes: 0, fetch: fakeMirror(clock, held, asked), now: () => clock.now, watch: (m, k) => trust.watch(m, k) });
  // Slices of 5 s: five requests of fake time.
  const scrubber = new AuditScrubber({ sliceMs: 5000, intervalMs: 3_600_000, concurrency: 1, now: () => clock.now, random: () => 0.5 });
  scrubber.setPlan(plan());
  const step = async (): Promise<StepResult> => {
    const s = await scrubber.step();
    if (s.kind === 'slice') trust.setAudit(s.result);
    trust.progress = scrubber.progress();
    return s;
  };
  // As TrustRunner does on a reload: the new plan, and the state as it stands applied at once.
  const reload = (next: ExpectedContent) => {
    trust.apply(config, next);
    scrubber.setPlan(plan());
    const now = scrubber.snapshot();
    if (now) trust.setAudit(now);
  };
  return { clock, trust, scrubber, reload, step };
}

test('a missing object is out of routing after its slice, long before the cycle ends; found again, it is back', async (t) => {
  const held = new Set(NAMES.map((n) => `${n}`));
  held.delete('f07');
  const { trust, step } = setup(held);
  t.is((await step()).kind, 'cycle-started');
  let slices = 0;
  while (!trust.objectProblem('eu', 'file:/releases/f07')) {
    const s = await step();
    t.is(s.kind, 'slice');
    slices++;
  }
  const progress = trust.auditProgress()!;
  t.is(progress.total, 60);
  t.true(progress.audited < progress.total, `found after ${progress.audited} of ${progress.total} objects, ${slices} slices`);
  t.is(trust.objectProblem('eu', 'file:/releases/f07'), 'missing');
  t.is(trust.freshness('eu')?.behind, 1);
  // The operator puts it back: the next cycle's slice over it clears the finding.
  held.add('f07');
  let s: StepResult;
  do s = await step();
  while (s.kind === 'slice' && !s.cycleFinished);
  t.is(trust.auditProgress()!.audited, 60);
  t.truthy(trust.auditProgress()!.lastCycleFinishedAt);
  t.is((await step()).kind, 'idle', 'the next cycle waits for intervalMs');
});

test('objects a reload newly expects are audited first, and their lag from promotion is measured', async (t) => {
  const held = new Set(NAMES.map((n) => `${n}`));
  const asked: string[] = [];
  const { clock, trust, scrubber, reload, step } = setup(held, files(NAMES), asked);
  await step();
  await step();
  t.true(trust.auditProgress()!.audited < 60);
  // Promoted now, already on the mirror: a reload adds it to the expected content.
  const promoted = clock.now;
  held.add('new');
  clock.now += 30_000;
  reload(files([...NAMES, 'new'], { 'file:/releases/new': promoted }));
  t.is(scrubber.progress().newlyExpected, 1);
  asked.length = 0;
  await step();
  t.is(asked[0], 'https://eu.example/new', 'the new object goes before the cursor goes on');
  t.is(trust.freshness('eu')?.lagsMeasured, 1);
  t.is(trust.lastLags.get('eu')?.[0], 31);
  t.is(scrubber.progress().newlyExpected, 0);
  // The cycle goes on where it was and still covers every object once.
  let s: StepResult;
  do s = await step();
  while (s.kind === 'slice' && !s.cycleFinished);
  t.is(trust.auditProgress()!.audited, 61);
  t.is(trust.findings().length, 0);
});

test('a finding for an object no longer expected goes with the reload', async (t) => {
  const held = new Set(NAMES.map((n) => `${n}`));
  held.delete('f00');
  const { trust, reload, step } = setup(held);
  let s: StepResult;
  do s = await step();
  while (!(s.kind === 'slice' && s.cycleFinished));
  t.is(trust.objectProblem('eu', 'file:/releases/f00'), 'missing');
  reload(files(NAMES.slice(1)));
  t.is(trust.objectProblem('eu', 'file:/releases/f00'), undefined);
  t.is(trust.findings().length, 0);
});

test("a moved tag's proof does not carry over a reload: it is unproven until its new unit runs, first", async (t) => {
  const { createHash } = await import('node:crypto');
  const manifest = (n: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], n }));
  const bytes = new Map([1, 2].map((n) => [`sha256:${createHash('sha256').update(manifest(n)).digest('hex')}`, manifest(n)]));
  const [D1, D2] = [...bytes.keys()] as [string, string];
  const registry = compile(`
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
routes:
  - { prefix: /v2/, default: eu-reg }
trust:
  expected: []
`);
  const images = (tag: string) =>
    new ExpectedContent(
      new Map([
        [
          '/v2',
          {
            prefix: '/v2',
            type: 'oci',
            images: new Map([['kops/pause', { digests: new Set([D1, D2]), tags: new Map([['1.0', tag]]) }]]),
            files: new Map(),
            imagePrefixes: new Set(),
            retiring: new Set(),
          } satisfies ExpectedRoute,
        ],
      ]),
    );
  // The mirror's tag stays at D1 (it was not synced after the rollback to D2).
  const fake = (async (input: string | URL | Request) => {
    const ref = decodeURIComponent(String(input).split('/manifests/')[1] ?? '');
    const body = bytes.get(ref);
    if (ref === '1.0') return new Response(null, { status: 200, headers: { 'docker-content-digest': D1 } });
    return body ? new Response(body, { status: 200, headers: { 'docker-content-digest': ref } }) : new Response(null, { status: 404 });
  }) as typeof fetch;
  const trust = new TrustState();
  trust.apply(registry, images(D1));
  const plan = () => planAudit(registry, trust.expected, { requestsPerSecond: 1e6, sampleBytes: 0, fetch: fake });
  const scrubber = new AuditScrubber({ sliceMs: 60_000, intervalMs: 3_600_000, concurrency: 1 });
  scrubber.setPlan(plan());
  await scrubber.step();
  const first = await scrubber.step();
  if (first.kind !== 'slice') return t.fail(first.kind);
  trust.setAudit(first.result);
  t.is(trust.auditedTag('eu-reg', '/v2', 'kops/pause', '1.0'), D1);
  // A rollback moves the tag to D2: the old proof says nothing about it.
  trust.apply(registry, images(D2));
  scrubber.setPlan(plan());
  trust.setAudit(scrubber.snapshot()!);
  t.is(trust.auditedTag('eu-reg', '/v2', 'kops/pause', '1.0'), undefined);
  t.is(scrubber.progress().newlyExpected, 1);
  const next = await scrubber.step();
  if (next.kind !== 'slice') return t.fail(next.kind);
  trust.setAudit(next.result);
  t.is(trust.objectProblem('eu-reg', 'manifest:kops/pause:1.0'), `tag points at ${D1}, promoted ${D2}`);
  t.true(trust.auditedTag('eu-reg', '/v2', 'kops/pause', '1.0') === undefined);
});
