// `validate DIR`: every manifest problem as file:line:column; with `online`, also what staging
// holds (each digest present, each file present with the right sha256) and what production
// holds: everything a destination's ledger says was promoted is there with the digest or sha256
// the ledger recorded, no manifest tag or file there has other content, and every destination
// is readable. What is not promoted yet is counted, not an error.
import type { Backends } from './backends.js';
import { ledgerKey } from './ledger.js';
import { loadManifests } from './load.js';
import type { ImageProject, Project } from './model.js';
import type { Observed } from './observed.js';
import type { CliIO } from '../commands/io.js';
import { observe } from './promote.js';
import { plan } from './plan.js';
import { DEFAULT_RETRY } from '../net/retry.js';
import { formatFinding } from './yaml-file.js';

export interface ValidateOptions {
  dir: string;
  online: boolean;
  project?: string | undefined;
  parallel: number;
}

export async function validateManifests(opts: ValidateOptions, backends: Backends, out: CliIO): Promise<number> {
  const loaded = await loadManifests(opts.dir, opts.project);
  for (const f of loaded.findings) out.stderr(`${formatFinding(f)}\n`);
  let bad = loaded.findings.filter((f) => f.severity === 'error').length;
  let pending = 0;
  if (opts.online) {
    const observed = await observe(loaded.projects, backends, opts.parallel, true, DEFAULT_RETRY);
    for (const p of plan(loaded.projects, observed, { prune: false, checkAllStaging: true }).projects) {
      // Staging problems, and production problems: a tag or file with other content, an unreadable destination.
      for (const e of p.errors) {
        out.stderr(`${p.id}: ${e.kind}: ${e.message}\n`);
        bad++;
      }
      for (const d of p.destinations) pending += d.actions.length;
      for (const message of ledgerProblems(loaded.projects.find((x) => x.id === p.id) as Project, observed)) {
        out.stderr(`${p.id}: not-in-production: ${message}\n`);
        bad++;
      }
    }
  }
  const n = loaded.projects.length;
  const warnings = loaded.findings.filter((f) => f.severity === 'warning').length;
  const names = new Set(loaded.projects.map((p) => p.project));
  const partial = new Set(loaded.findings.filter((f) => f.entryOnly && names.has(f.project)).map((f) => f.project)).size;
  const counts = `${n} project(s) valid${partial > 0 ? ` (${partial} with entries left out)` : ''}, ${loaded.skipped.size} skipped${warnings > 0 ? `, ${warnings} warning(s)` : ''}`;
  const online = opts.online ? `, staging and production checked${pending > 0 ? ` (${pending} action(s) not promoted yet: see promote's dry run)` : ''}` : '';
  out.stdout(bad === 0 ? `OK: ${n} project(s) valid${warnings > 0 ? `, ${warnings} warning(s)` : ''}${online}.\n` : `${bad} problem(s); ${counts}${online}.\n`);
  return bad === 0 ? 0 : 1;
}

/**
 * What a destination's ledger says this promoter put there but production does not hold as
 * recorded: a digest or file gone, a file with other bytes, a tag moved. Tags and files the
 * manifest still names are left to the plan (its tag-move and file-conflict errors).
 */
export function ledgerProblems(p: Project, observed: Observed): string[] {
  const problems: string[] = [];
  for (const dest of p.destinations) {
    if (observed.unreachable.has(dest)) continue;
    const ledger = observed.ledgers.get(ledgerKey(p.id, dest));
    if (!ledger) continue;
    if (p.kind === 'images') {
      const state = observed.registries.get(dest);
      for (const [name, owned] of ledger.images) {
        const repo = state?.get(name);
        const named = new Set([...(p.images.find((i) => i.name === name)?.dmap.values() ?? [])].flat());
        for (const digest of owned.digests) if (!repo?.digests.has(digest)) problems.push(`${dest}/${name}@${digest} is in the ledger but not in production`);
        for (const [tag, digest] of owned.tags) {
          const current = repo?.tags.get(tag);
          if (current === undefined) problems.push(`${dest}/${name}:${tag} (${digest}) is in the ledger but not in production`);
          else if (current !== digest && !named.has(tag)) problems.push(`${dest}/${name}:${tag} is ${current}; the ledger says ${digest}`);
        }
      }
    } else {
      const state = observed.filestores.get(dest);
      const named = new Set(p.entries.map((f) => f.name));
      for (const [name, sha256] of ledger.files) {
        const current = state?.get(name);
        if (!current) problems.push(`${dest}${name} (sha256 ${sha256}) is in the ledger but not in production`);
        else if (current.sha256 !== sha256 && !named.has(name)) problems.push(`${dest}${name} has sha256 ${current.sha256 ?? 'unknown'}; the ledger says ${sha256}`);
      }
    }
  }
  if (p.kind === 'images') problems.push(...bucketLedgerProblems(p, observed));
  return problems;
}

/** Blobs a bucket's ledger lists that the bucket does not hold with that sha256 (issue 13). */
function bucketLedgerProblems(p: ImageProject, observed: Observed): string[] {
  const problems: string[] = [];
  for (const base of p.blobBuckets ?? []) {
    if (observed.unreachable.has(base)) continue;
    const state = observed.filestores.get(base);
    for (const [name, sha256] of observed.ledgers.get(ledgerKey(p.id, base))?.files ?? []) {
      const current = state?.get(name);
      if (!current) problems.push(`${base}${name} (sha256 ${sha256}) is in the ledger but not in production`);
      else if (current.sha256 !== sha256) problems.push(`${base}${name} has sha256 ${current.sha256 ?? 'unknown'}; the ledger says ${sha256}`);
    }
  }
  return problems;
}
