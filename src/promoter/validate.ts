// `validate DIR`: every manifest problem as file:line:column; with `online`, also what staging
// holds (each digest present, each file present with the right sha256).
import type { Backends } from './backends.js';
import { loadManifests } from './load.js';
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
  if (opts.online) {
    const observed = await observe(loaded.projects, backends, opts.parallel, true, DEFAULT_RETRY);
    // Only staging errors matter here: production state is the plan's business.
    for (const p of plan(loaded.projects, observed, { prune: false, checkAllStaging: true }).projects) {
      for (const e of p.errors.filter((x) => x.destination === '')) {
        out.stderr(`${p.id}: ${e.kind}: ${e.message}\n`);
        bad++;
      }
    }
  }
  const n = loaded.projects.length;
  const warnings = loaded.findings.filter((f) => f.severity === 'warning').length;
  const names = new Set(loaded.projects.map((p) => p.project));
  const partial = new Set(loaded.findings.filter((f) => f.entryOnly && names.has(f.project)).map((f) => f.project)).size;
  const counts = `${n} project(s) valid${partial > 0 ? ` (${partial} with entries left out)` : ''}, ${loaded.skipped.size} skipped${warnings > 0 ? `, ${warnings} warning(s)` : ''}`;
  out.stdout(bad === 0 ? `OK: ${n} project(s) valid${warnings > 0 ? `, ${warnings} warning(s)` : ''}${opts.online ? ', staging checked' : ''}.\n` : `${bad} problem(s); ${counts}.\n`);
  return bad === 0 ? 0 : 1;
}
