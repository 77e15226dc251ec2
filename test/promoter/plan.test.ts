import test from 'ava';
import { emptyLedger, ledgerKey } from '../../src/promoter/ledger.js';
import type { FileProject, ImageProject } from '../../src/promoter/model.js';
import { emptyObserved, type RepoState } from '../../src/promoter/observed.js';
import { hasErrors, hasWork, plan } from '../../src/promoter/plan.js';
import { renderPlan } from '../../src/promoter/render.js';
import { D1, D2, D3 } from './fixtures.js';

const SRC = 'reg.test/k8s-staging-x';
const P1 = 'prod1.test/images';
const P2 = 'prod2.test/images';

function images(dmap: [string, string[]][], rollback: string[] = []): ImageProject {
  return { kind: 'images', id: 'images/k8s-staging-x', project: 'k8s-staging-x', files: [], src: SRC, destinations: [P1, P2], images: [{ name: 'app', dmap: new Map(dmap), rollback: new Set(rollback) }] };
}

function repo(tags: [string, string][], digests: string[]): RepoState {
  return { tags: new Map(tags), digests: new Set(digests) };
}

function observed(stagingDigests: string[], prod: Record<string, RepoState>) {
  const o = emptyObserved();
  o.registries.set(SRC, new Map([['app', repo([], stagingDigests)]]));
  for (const [loc, r] of Object.entries(prod)) o.registries.set(loc, new Map([['app', r]]));
  o.imageBytes.set(D1, 1000);
  return o;
}

test('copies and tags to every destination, with bytes', (t) => {
  const p = plan([images([[D1, ['v1', 'latest']]])], observed([D1], {}), { prune: false });
  t.false(hasErrors(p));
  t.deepEqual(
    p.projects[0]!.destinations.map((d) => [d.destination, d.actions.map((a) => a.kind), d.bytes]),
    [
      [P1, ['copy-image', 'tag', 'tag'], 1000],
      [P2, ['copy-image', 'tag', 'tag'], 1000],
    ],
  );
});

test('nothing to do is said explicitly', (t) => {
  const done = repo([['v1', D1]], [D1]);
  const p = plan([images([[D1, ['v1']]])], observed([D1], { [P1]: done, [P2]: done }), { prune: false });
  t.false(hasWork(p));
  t.regex(renderPlan(p, new Map(), { confirm: false }), /Nothing to do: production already matches every manifest\.\n$/);
});

test('a digest missing in staging is an error for the project', (t) => {
  const p = plan(
    [
      images([
        [D1, ['v1']],
        [D2, []],
      ]),
    ],
    observed([D1], {}),
    { prune: false },
  );
  t.deepEqual(
    p.projects[0]!.errors.map((e) => e.kind),
    ['missing-in-staging'],
  );
  t.regex(renderPlan(p, new Map(), { confirm: false }), /skipped 1 project\(s\) with errors: images\/k8s-staging-x/);
});

test('a tag move is refused unless marked as a rollback', (t) => {
  const prod = repo([['v1', D1]], [D1, D2]);
  const refused = plan([images([[D2, ['v1']]])], observed([D1, D2], { [P1]: prod, [P2]: prod }), { prune: false });
  t.deepEqual(
    refused.projects[0]!.errors.map((e) => [e.kind, e.destination]),
    [
      ['tag-move', P1],
      ['tag-move', P2],
    ],
  );
  const allowed = plan([images([[D2, ['v1']]], ['v1'])], observed([D1, D2], { [P1]: prod, [P2]: prod }), { prune: false });
  t.false(hasErrors(allowed));
  t.deepEqual(allowed.projects[0]!.destinations[0]!.actions, [{ kind: 'move', name: 'app', tag: 'v1', from: D1, digest: D2 }]);
});

test('prune deletes only what the ledger owns and production still holds', (t) => {
  const prod = repo(
    [
      ['v1', D1],
      ['old', D2],
      ['theirs', D3],
    ],
    [D1, D2, D3],
  );
  const o = observed([D1], { [P1]: prod, [P2]: repo([], []) });
  const ledger = emptyLedger();
  ledger.images.set('app', {
    digests: new Set([D1, D2]),
    tags: new Map([
      ['v1', D1],
      ['old', D2],
    ]),
  });
  o.ledgers.set(ledgerKey('images/k8s-staging-x', P1), ledger);
  const without = plan([images([[D1, ['v1']]])], o, { prune: false });
  t.deepEqual(without.projects[0]!.destinations[0]!.actions, []);
  t.is(without.projects[0]!.destinations[0]!.prunable, 1);
  const withPrune = plan([images([[D1, ['v1']]])], o, { prune: true });
  // D3 and its tag are not in the ledger: never touched. D2's tag goes with D2.
  t.deepEqual(withPrune.projects[0]!.destinations[0]!.actions, [{ kind: 'delete-image', name: 'app', digest: D2 }]);
  t.deepEqual(
    withPrune.projects[0]!.destinations[1]!.actions.map((a) => a.kind),
    ['copy-image', 'tag'],
  );
});

const FSRC = 'file:///staging/k8s-staging-x/';
const F1 = 'file:///prod/a/';
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function files(rollback = false): FileProject {
  return { kind: 'files', id: 'files/k8s-staging-x', project: 'k8s-staging-x', files: [], src: FSRC, destinations: [F1], entries: [{ name: 'bin/x', sha256: SHA_A, rollback }] };
}

test('files: copy, hash mismatch in staging, conflict in production, rollback replace', (t) => {
  const o = emptyObserved();
  o.filestores.set(FSRC, new Map([['bin/x', { size: 5, sha256: SHA_A }]]));
  t.deepEqual(plan([files()], o, { prune: false }).projects[0]!.destinations[0]!.actions, [{ kind: 'copy-file', name: 'bin/x', sha256: SHA_A, bytes: 5 }]);

  o.filestores.set(FSRC, new Map([['bin/x', { size: 5, sha256: SHA_B }]]));
  t.deepEqual(
    plan([files()], o, { prune: false }).projects[0]!.errors.map((e) => e.kind),
    ['hash-mismatch'],
  );

  o.filestores.set(FSRC, new Map([['bin/x', { size: 5, sha256: SHA_A }]]));
  o.filestores.set(F1, new Map([['bin/x', { size: 5, sha256: SHA_B }]]));
  t.deepEqual(
    plan([files()], o, { prune: false }).projects[0]!.errors.map((e) => e.kind),
    ['file-conflict'],
  );
  t.deepEqual(
    plan([files(true)], o, { prune: false }).projects[0]!.destinations[0]!.actions.map((a) => a.kind),
    ['replace-file'],
  );
});

test('files: prune deletes ledger-owned files only when production still has our content', (t) => {
  const o = emptyObserved();
  o.filestores.set(FSRC, new Map([['bin/x', { size: 5, sha256: SHA_A }]]));
  o.filestores.set(
    F1,
    new Map([
      ['bin/x', { size: 5, sha256: SHA_A }],
      ['old', { size: 1, sha256: SHA_B }],
      ['changed', { size: 1, sha256: SHA_A }],
      ['unmanaged', { size: 1, sha256: SHA_A }],
    ]),
  );
  const ledger = emptyLedger();
  ledger.files.set('bin/x', SHA_A).set('old', SHA_B).set('changed', SHA_B).set('gone', SHA_B);
  o.ledgers.set(ledgerKey('files/k8s-staging-x', F1), ledger);
  const d = plan([files()], o, { prune: true }).projects[0]!.destinations[0]!;
  t.deepEqual(d.actions, [{ kind: 'delete-file', name: 'old', sha256: SHA_B }]);
  t.deepEqual(d.notOwned, ['changed']);
});

test('an unreachable destination is an error, not "nothing to do"', (t) => {
  const o = observed([D1], {});
  o.unreachable.set(P2, 'connection refused');
  const p = plan([images([[D1, ['v1']]])], o, { prune: false });
  t.deepEqual(
    p.projects[0]!.errors.map((e) => e.kind),
    ['unreachable'],
  );
});
