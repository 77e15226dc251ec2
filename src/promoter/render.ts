// The plan as text for a reviewer: per project and destination what is copied, tagged, moved and
// deleted, and the bytes. Always ends with one explicit verdict line, so "nothing to do" and
// "skipped" can never be mistaken for success or silence.
import type { Action, DestinationPlan, Plan, PlanError, ProjectPlan } from './plan.js';

export interface RenderOptions {
  /** Every action on its own line, however large the plan. */
  verbose?: boolean;
  /**
   * Without `verbose`, a plan of up to this many actions is still listed line by line (default
   * 200); a larger one is summarised per project and destination (counts per action kind), with
   * moves, replacements and deletions still listed. Errors and conflicts are always listed.
   */
  detailUpTo?: number;
  confirm: boolean;
  /** Manifest entries left out at load (a malformed digest): said in the verdict, never silent. */
  leftOut?: number;
}

/** Actions that change or remove what production serves: listed even in a summary. */
const ALWAYS_LISTED = new Set<Action['kind']>(['move', 'replace-file', 'delete-image', 'delete-tag', 'delete-file']);

export function renderPlan(plan: Plan, skippedAtLoad: Map<string, string>, opts: RenderOptions): string {
  const out: string[] = [];
  const total = plan.projects.reduce((n, p) => n + p.destinations.reduce((m, d) => m + d.actions.length, 0), 0);
  const detail = opts.verbose === true || total <= (opts.detailUpTo ?? 200);
  out.push(...renderDown(plan));
  for (const p of plan.projects) {
    out.push(`${p.id} (from ${p.src})`);
    out.push(...renderErrors(p.errors));
    if (p.errors.length > 0) out.push(`  skipped: ${p.errors.length} error(s); nothing is promoted for this project until they are fixed`);
    const unchecked = new Set(p.errors.flatMap((e) => (e.kind === 'unreachable' && e.destination !== '' ? [e.destination] : [])));
    for (const d of p.destinations) if (!unchecked.has(d.destination)) out.push(...renderDestination(d, plan.prune, detail));
  }
  for (const [project, reason] of skippedAtLoad) out.push(`${project}: skipped, manifest invalid: ${reason}`);
  if (!detail) out.push(`Summary of ${total} action(s) per project and destination; --verbose lists every one.`);
  out.push(verdict(plan, skippedAtLoad, opts.confirm, opts.leftOut ?? 0));
  return `${out.join('\n')}\n`;
}

/** Each endpoint no connection could be made to, once, with what it covers (issue 8). */
function renderDown(plan: Plan): string[] {
  const lines: string[] = [];
  for (const [endpoint, down] of plan.down ?? []) {
    const errors = plan.projects.flatMap((p) => p.errors.filter((e) => e.endpoint === endpoint).map((e) => ({ p, e })));
    const locations = new Set(errors.map(({ e }) => e.location));
    const projects = new Set(errors.map(({ p }) => p.id));
    const items = errors.reduce((n, { e }) => n + (e.items ?? 0), 0);
    lines.push(`unreachable: ${endpoint}: ${down.reason}; ${locations.size} location(s) in ${projects.size} project(s), ${items} manifest item(s) not checked (marked once; its other items were not tried)`);
  }
  return lines;
}

/** Errors in full; those of a down endpoint as one line per endpoint (its reason is above). */
function renderErrors(errors: readonly PlanError[]): string[] {
  const lines: string[] = [];
  const byEndpoint = new Map<string, PlanError[]>();
  for (const e of errors) {
    if (e.endpoint === undefined) lines.push(`  error: ${e.kind}: ${e.message}`);
    else byEndpoint.set(e.endpoint, [...(byEndpoint.get(e.endpoint) ?? []), e]);
  }
  for (const [endpoint, es] of byEndpoint) {
    const names = es.map((e) => (e.destination === '' ? `staging ${e.location}` : (e.location ?? e.destination)));
    const items = es.reduce((n, e) => n + (e.items ?? 0), 0);
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? `, and ${names.length - 3} more` : '');
    lines.push(`  error: unreachable: ${es.length} location(s) on ${endpoint} not checked (${items} item(s); see "unreachable: ${endpoint}" above): ${shown}`);
  }
  return lines;
}

function renderDestination(d: DestinationPlan, prune: boolean, detail: boolean): string[] {
  const counts = new Map<string, number>();
  for (const a of d.actions) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
  const lines = [`  -> ${d.destination}: ${d.actions.length === 0 ? 'nothing to do' : `${summary}; ${formatBytes(d.bytes)}`}`];
  for (const a of d.actions) if (detail || ALWAYS_LISTED.has(a.kind)) lines.push(`       ${describe(a)}`);
  if (!prune && d.prunable > 0) lines.push(`     ${d.prunable} ledger entries are no longer in the manifest; --prune would delete them`);
  for (const n of d.notOwned) lines.push(`     not pruned: ${n} changed in production since this promoter wrote it`);
  return lines;
}

export function describe(a: Action): string {
  switch (a.kind) {
    case 'copy-image':
      return `copy ${a.name}@${a.digest} (${formatBytes(a.bytes)})`;
    case 'copy-referrers': {
      const parts = [
        ...(a.tags.length > 0 ? [`missing ${a.tags.join(', ')}`] : []),
        ...(a.changed.length > 0 ? [`changed in staging ${a.changed.join(', ')}`] : []),
        ...(a.referrers.length > 0 ? [`missing referrers ${a.referrers.join(', ')}`] : []),
      ];
      return `copy referrers of ${a.name}@${a.digest}: ${parts.join('; ')}`;
    }
    case 'tag':
      return `tag ${a.name}:${a.tag} -> ${a.digest}`;
    case 'move':
      return `move ${a.name}:${a.tag} ${a.from} -> ${a.digest} (rollback)`;
    case 'copy-file':
      return `copy ${a.name} (${formatBytes(a.bytes)})`;
    case 'replace-file':
      return `replace ${a.name} sha256:${a.from} -> sha256:${a.sha256} (rollback, ${formatBytes(a.bytes)})`;
    case 'delete-image':
      return `delete ${a.name}@${a.digest}`;
    case 'delete-tag':
      return `delete tag ${a.name}:${a.tag} (was ${a.digest})`;
    case 'delete-file':
      return `delete ${a.name}`;
  }
}

function verdict(plan: Plan, skippedAtLoad: Map<string, string>, confirm: boolean, leftOut: number): string {
  const isUnchecked = (p: ProjectPlan) => p.errors.some((e) => e.kind === 'unreachable');
  const unchecked = plan.projects.filter(isUnchecked);
  const bad = plan.projects.filter((p) => p.errors.length > 0 && !isUnchecked(p)).map((p) => p.id);
  const skipped = [...skippedAtLoad.keys(), ...bad];
  const good = plan.projects.filter((p) => p.errors.length === 0);
  const actions = good.reduce((n, p) => n + p.destinations.reduce((m, d) => m + d.actions.length, 0), 0);
  const bytes = good.reduce((n, p) => n + p.destinations.reduce((m, d) => m + d.bytes, 0), 0);
  const parts: string[] = [];
  if (unchecked.length > 0) {
    // Never "nothing to do" when something could not be looked at.
    const locations = new Set(unchecked.flatMap((p) => p.errors.filter((e) => e.kind === 'unreachable').map((e) => e.location ?? e.message)));
    const down = [...(plan.down?.keys() ?? [])];
    const names = unchecked.map((p) => p.id);
    parts.push(
      `Could not check ${unchecked.length} project(s) (${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}): ${locations.size} location(s) unreachable` +
        (down.length > 0 ? `, ${down.length} endpoint(s) down (${down.slice(0, 5).join(', ')}${down.length > 5 ? ', ...' : ''})` : ''),
    );
    if (actions === 0 && good.length > 0) parts.push(`the ${good.length} project(s) that could be checked already match production`);
  } else if (actions === 0) parts.push(`Nothing to do: production already matches ${skipped.length > 0 ? 'every valid' : 'every'} manifest`);
  if (actions > 0) parts.push(`${confirm ? 'Executing' : 'Would execute'} ${actions} action(s), ${formatBytes(bytes)}`);
  if (skipped.length > 0) parts.push(`skipped ${skipped.length} project(s) with errors: ${skipped.join(', ')}`);
  if (leftOut > 0) parts.push(`left out ${leftOut} invalid manifest entr${leftOut === 1 ? 'y' : 'ies'} (see the errors above)`);
  if (!confirm && actions > 0) parts.push('dry run: pass --confirm to execute');
  return `${parts.join('; ')}.`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
