// The blob-bucket planner (issue 13), a pure function: what a bucket lacks is copied, what its
// ledger lists is believed (unless pending), and prune deletes only blobs no kept image of any
// project filling the bucket needs, refusing when it cannot know that.
import test from 'ava';
import { blobKey } from '../../src/promoter/blob-buckets.js';
import { emptyLedger, ledgerKey, type Ledger } from '../../src/promoter/ledger.js';
import type { ImageProject } from '../../src/promoter/model.js';
import { emptyObserved, stagingKey, type Observed } from '../../src/promoter/observed.js';
import { plan } from '../../src/promoter/plan.js';
import { D1, D2, D3 } from './fixtures.js';

const BUCKET = 's3://blobs/mirror/';
const blob = (c: string) => `sha256:${c.repeat(64)}`;
const [A, B, C, E] = ['a', 'b', 'c', 'e'].map(blob) as [string, string, string, string];
const hex = (d: string) => d.slice('sha256:'.length);

function project(name: string, digests: string[]): ImageProject {
  return {
    kind: 'images',
    id: `images/${name}`,
    project: name,
    files: [],
    src: `staging.example/${name}`,
    destinations: [],
    blobBuckets: [BUCKET],
    images: [{ name: 'app', dmap: new Map(digests.map((d) => [d, []])), rollback: new Set() }],
  };
}

function observe(closures: [ImageProject, string, string[]][], ledgers: [ImageProject, Ledger][] = []): Observed {
  const o = emptyObserved();
  o.blobs = { closures: new Map(), sourceName: new Map() };
  for (const [p, digest, blobs] of closures) o.blobs.closures.set(stagingKey(p.src, digest), new Map(blobs.map((b) => [b, 100])));
  for (const [p, l] of ledgers) o.ledgers.set(ledgerKey(p.id, BUCKET), l);
  return o;
}

function ledgerOf(blobs: string[], closures: [string, string[]][] = [], pending: string[] = []): Ledger {
  const l = emptyLedger();
  for (const b of blobs) l.files.set(blobKey(b), hex(b));
  l.closures = new Map(closures);
  l.pending = new Set(pending.map(blobKey));
  return l;
}

const actions = (p: ReturnType<typeof plan>, id: string) =>
  p.projects
    .find((x) => x.id === id)
    ?.destinations.find((d) => d.destination === BUCKET)
    ?.actions.map((a) => `${a.kind} ${a.name}`) ?? [];

test('missing blobs are copied; listed ones are believed; pending ones are checked; a wrong key is replaced', (t) => {
  const p = project('x', [D1]);
  const o = observe([[p, D1, [A, B, C, E]]], [[p, ledgerOf([A, B], [], [B])]]);
  o.filestores.set(BUCKET, new Map([[blobKey(C), { size: 100, sha256: hex(A) }]]));
  const r = plan([p], o, { prune: false });
  t.deepEqual(r.projects[0]?.errors, []);
  t.deepEqual(actions(r, p.id), [`copy-file ${blobKey(B)}`, `replace-file ${blobKey(C)}`, `copy-file ${blobKey(E)}`]);
});

test('prune deletes only blobs no kept image of any project in the bucket needs', (t) => {
  const x = project('x', [D2]); // dropped D1 (blobs A, B, C); keeps D2 (blob C)
  const y = project('y', [D3]); // needs B
  const o = observe(
    [
      [x, D2, [C]],
      [y, D3, [B]],
    ],
    [
      [
        x,
        ledgerOf(
          [A, B, C],
          [
            [D1, [A, B, C]],
            [D2, [C]],
          ],
        ),
      ],
      [y, ledgerOf([B], [[D3, [B]]])],
    ],
  );
  const r = plan([x, y], o, { prune: true });
  t.deepEqual(actions(r, x.id), [`delete-file ${blobKey(A)}`]);
  t.deepEqual(actions(r, y.id), []);
  t.is(plan([x, y], o, { prune: false }).projects[0]?.destinations[0]?.prunable, 1);
});

test('a kept image no longer in staging is covered by the closure its ledger recorded', (t) => {
  const x = project('x', [D2]);
  const o = observe(
    [],
    [
      [
        x,
        ledgerOf(
          [A, C],
          [
            [D1, [A]],
            [D2, [C]],
          ],
        ),
      ],
    ],
  );
  const r = plan([x], o, { prune: true });
  t.deepEqual(r.projects[0]?.errors, []);
  t.deepEqual(actions(r, x.id), [`delete-file ${blobKey(A)}`]);
});

test('prune is refused when a kept image’s blobs are unknown, or when only some projects were loaded', (t) => {
  const x = project('x', [D2]);
  const unknown = plan([x], observe([], [[x, ledgerOf([A, C], [[D1, [A]]])]]), { prune: true }).projects[0];
  t.deepEqual(
    unknown?.errors.map((e) => e.kind),
    ['missing-in-staging', 'prune-blocked'],
  );
  t.regex(unknown?.errors[1]?.message ?? '', /not pruned: the blobs of app@sha256:2{64} are unknown/);
  const partial = plan([x], observe([[x, D2, [C]]], [[x, ledgerOf([A, C])]]), { prune: true, partial: true }).projects[0];
  t.deepEqual(
    partial?.errors.map((e) => e.kind),
    ['prune-blocked'],
  );
  t.regex(partial?.errors[0]?.message ?? '', /--project/);
});
