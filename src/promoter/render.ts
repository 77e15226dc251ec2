// The plan as text for a reviewer: per project and destination what is copied, tagged, moved and
// deleted, and the bytes. Always ends with one explicit verdict line, so "nothing to do" and
// "skipped" can never be mistaken for success or silence.
import type { Action, DestinationPlan, Plan } from './plan.js';

export interface RenderOptions {
  /** Detail lines per destination before "... and N more" (Infinity for all). */
  limit: number;
  confirm: boolean;
  /** Manifest entries left out at load (a malformed digest): said in the verdict, never silent. */
  leftOut?: number;
}

export function renderPlan(plan: Plan, skippedAtLoad: Map<string, string>, opts: RenderOptions): string {
  const out: string[] = [];
  for (const p of plan.projects) {
    out.push(`${p.id} (from ${p.src})`);
    for (const e of p.errors) out.push(`  error: ${e.kind}: ${e.message}`);
    if (p.errors.length > 0) out.push(`  skipped: ${p.errors.length} error(s); nothing is promoted for this project until they are fixed`);
    for (const d of p.destinations) out.push(...renderDestination(d, plan.prune, opts.limit));
  }
  for (const [project, reason] of skippedAtLoad) out.push(`${project}: skipped, manifest invalid: ${reason}`);
  out.push(verdict(plan, skippedAtLoad, opts.confirm, opts.leftOut ?? 0));
  return `${out.join('\n')}\n`;
}

function renderDestination(d: DestinationPlan, prune: boolean, limit: number): string[] {
  const counts = new Map<string, number>();
  for (const a of d.actions) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
  const lines = [`  -> ${d.destination}: ${d.actions.length === 0 ? 'nothing to do' : `${summary}; ${formatBytes(d.bytes)}`}`];
  for (const a of d.actions.slice(0, limit)) lines.push(`       ${describe(a)}`);
  if (d.actions.length > limit) lines.push(`       ... and ${d.actions.length - limit} more`);
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
  const bad = plan.projects.filter((p) => p.errors.length > 0).map((p) => p.id);
  const skipped = [...skippedAtLoad.keys(), ...bad];
  const actions = plan.projects.filter((p) => p.errors.length === 0).reduce((n, p) => n + p.destinations.reduce((m, d) => m + d.actions.length, 0), 0);
  const bytes = plan.projects.filter((p) => p.errors.length === 0).reduce((n, p) => n + p.destinations.reduce((m, d) => m + d.bytes, 0), 0);
  const parts: string[] = [];
  if (actions === 0) parts.push(`Nothing to do: production already matches ${skipped.length > 0 ? 'every valid' : 'every'} manifest`);
  else parts.push(`${confirm ? 'Executing' : 'Would execute'} ${actions} action(s), ${formatBytes(bytes)}`);
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
