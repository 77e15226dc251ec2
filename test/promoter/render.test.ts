// Issue 8: the printed plan stays readable at scale. A plan of 100k actions is summarised per
// project and destination (counts per action kind) unless --verbose; errors, conflicts and
// destructive actions are always listed in full.
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Action, Plan, PlanError, ProjectPlan } from '../../src/promoter/plan.js';
import { describe, renderPlan } from '../../src/promoter/render.js';

const PROJECTS = 50;
const DESTS = 20;
const PER_DEST = 100; // 50 x 20 x 100 = 100,000 actions

function digest(i: number): string {
  return `sha256:${createHash('sha256').update(String(i)).digest('hex')}`;
}

function bigPlan(): { plan: Plan; errors: PlanError[]; deletes: Action[] } {
  const projects: ProjectPlan[] = [];
  const errors: PlanError[] = [];
  const deletes: Action[] = [];
  let n = 0;
  for (let p = 0; p < PROJECTS; p++) {
    const pp: ProjectPlan = { id: `images/k8s-staging-p${p}`, project: `k8s-staging-p${p}`, kind: 'images', src: `gcr.io/k8s-staging-p${p}`, destinations: [], errors: [] };
    for (let d = 0; d < DESTS; d++) {
      const actions: Action[] = [];
      for (let i = 0; i < PER_DEST; i++, n++) {
        // The last project prunes: one deletion per destination, among copies and tags.
        if (p === PROJECTS - 1 && i === 0) {
          const a: Action = { kind: 'delete-tag', name: 'img', tag: `old-${d}`, digest: digest(n) };
          actions.push(a);
          deletes.push(a);
        } else if (i % 2 === 0) actions.push({ kind: 'copy-image', name: `img${i % 7}`, digest: digest(n), bytes: 1000 });
        else actions.push({ kind: 'tag', name: `img${i % 7}`, tag: `v1.${i}.0`, digest: digest(n) });
      }
      pp.destinations.push({ destination: `region-${d}.example/k8s-artifacts-prod/images/k8s-staging-p${p}`, actions, bytes: 50_000, prunable: 0, notOwned: [] });
    }
    // Every fifth project has conflicts: all of them must be printed.
    if (p % 5 === 0) {
      for (let e = 0; e < 30; e++) {
        const err: PlanError = { kind: 'tag-move', destination: pp.destinations[0]!.destination, message: `${pp.destinations[0]!.destination}/img:v${e} is ${digest(e)}; the manifest says ${digest(e + 1)}` };
        pp.errors.push(err);
        errors.push(err);
      }
    }
    projects.push(pp);
  }
  return { plan: { projects, prune: true }, errors, deletes };
}

test('a plan of 100k actions is summarised per project and destination; errors and deletions in full', (t) => {
  const { plan, errors, deletes } = bigPlan();
  t.is(
    plan.projects.reduce((s, p) => s + p.destinations.reduce((m, d) => m + d.actions.length, 0), 0),
    100_000,
  );
  const text = renderPlan(plan, new Map(), { confirm: false });
  const lines = text.trimEnd().split('\n');
  // One line per project, per destination, per error and per deletion, plus skip notes, the
  // summary note and the verdict: about 1,400 lines, not 100,000.
  const skippedNotes = plan.projects.filter((p) => p.errors.length > 0).length;
  t.is(lines.length, PROJECTS + PROJECTS * DESTS + errors.length + deletes.length + skippedNotes + 2);
  t.true(lines.includes(`  -> region-3.example/k8s-artifacts-prod/images/k8s-staging-p7: copy-image 50, tag 50; 48.8 KiB`));
  t.true(lines.includes(`  -> region-3.example/k8s-artifacts-prod/images/k8s-staging-p${PROJECTS - 1}: delete-tag 1, tag 50, copy-image 49; 48.8 KiB`));
  for (const e of errors) t.true(lines.includes(`  error: ${e.kind}: ${e.message}`), e.message);
  for (const a of deletes) t.true(lines.includes(`       ${describe(a)}`), describe(a));
  t.false(
    lines.some((l) => l.startsWith('       copy ') || l.startsWith('       tag ')),
    'no copy or tag line in the summary',
  );
  t.true(lines.includes('Summary of 100000 action(s) per project and destination; --verbose lists every one.'));
  t.regex(lines.at(-1) ?? '', /^Would execute \d+ action\(s\), .*; skipped 10 project\(s\) with errors: images\/k8s-staging-p0, /);
});

test('--verbose prints every one of the 100k actions', (t) => {
  const { plan } = bigPlan();
  const text = renderPlan(plan, new Map(), { confirm: false, verbose: true });
  const detail = text.split('\n').filter((l) => l.startsWith('       '));
  t.is(detail.length, 100_000);
  t.false(text.includes('--verbose lists every one'));
});

test('a small plan is listed line by line without --verbose', (t) => {
  const actions: Action[] = [
    { kind: 'copy-image', name: 'app', digest: digest(1), bytes: 10 },
    { kind: 'tag', name: 'app', tag: 'v1', digest: digest(1) },
  ];
  const plan: Plan = {
    prune: false,
    projects: [{ id: 'images/x', project: 'x', kind: 'images', src: 'gcr.io/x', errors: [], destinations: [{ destination: 'r.example/x', actions, bytes: 10, prunable: 0, notOwned: [] }] }],
  };
  const text = renderPlan(plan, new Map(), { confirm: false });
  for (const a of actions) t.true(text.includes(`       ${describe(a)}\n`));
  t.false(text.includes('Summary of'));
});
