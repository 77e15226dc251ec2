// The promoter's commands, wired into src/cli.ts: `promote DIR` and `validate DIR`.
// Exit codes: 0 fine, 1 something is wrong (an error in a manifest or the plan, a failed action),
// 2 usage error.
import { parseArgs } from 'node:util';
import type { CliIO } from '../commands/io.js';
import { dockerCredentials } from '../oci/auth.js';
import { createBackends } from './backends.js';
import { promote } from './promote.js';
import { validateManifests } from './validate.js';
import { errorMessage } from '../util/error-message.js';


const PROMOTE_HELP = `Usage: artifact-serving promote DIR|FILE [--confirm] [--prune] [--project NAME] [--parallel N] [--all]

Promote images and files from each project's staging area to production, as the reviewed
manifests under DIR say (kpromo's forms: manifests/+images/ and filestores/+manifests/ at DIR or
one level below; a project folder with promoter-manifest.yaml or filepromoter-manifest.yaml; or
one single-file manifest FILE). The legacy files/ folder is not read (as in kpromo).

Without --confirm this is a dry run: it prints the plan per project and destination (copy, tag,
move, delete, bytes) and exits 1 if the plan has an error (missing in staging, sha256 mismatch,
a tag that would move). A project with errors is reported and skipped; the others go ahead.

  --confirm        execute the plan
  --prune          also delete what a manifest no longer lists, if this promoter's ledger says
                   it wrote it and production still holds exactly that
  --project NAME   only this project (its directory name)
  --parallel N     concurrent transfers (default 8)
  --all            print every planned action (default: the first 50 per destination)

S3 endpoints and credentials come from the usual AWS environment (AWS_ENDPOINT_URL_S3 for
S3-compatible servers); registry credentials from docker's config.json (DOCKER_CONFIG).
`;

const VALIDATE_HELP = `Usage: artifact-serving validate DIR|FILE [--online] [--project NAME] [--parallel N]

Check promoter manifests under DIR (or one single-file manifest): strict schema, digest and tag
syntax, duplicate or overlapping tags, and that each project promotes only out of its own
staging area (a warning unless promoter-staging.yaml says outsideStaging: error). Problems are
printed as file:line:column: message; warnings and notes are prefixed so. With --online, also
check that every digest and file exists in staging with the right sha256, and that production
holds what each destination's ledger says was promoted, with the recorded digest or sha256, and
no tag or file the manifests name with other content. Exits 1 on any error.
`;

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;
type Values = Record<string, string | boolean | undefined>;

/** Parses DIR plus options, answering --help and usage errors itself (then it returns the exit code). */
function parseCommand(args: string[], options: Options, help: string, io: CliIO): number | { values: Values; dir: string; parallel: number } {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { ...options, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (e) {
    io.stderr(`${errorMessage(e)}\n\n${help}`);
    return 2;
  }
  const values = parsed.values as Values;
  const positionals = parsed.positionals;
  if (values.help) {
    io.stdout(help);
    return 0;
  }
  const parallel = Number(values.parallel);
  if (positionals.length !== 1 || !Number.isInteger(parallel) || parallel < 1) {
    io.stderr(help);
    return 2;
  }
  return { values, dir: positionals[0] as string, parallel };
}

async function withBackends<T>(run: (backends: ReturnType<typeof createBackends>) => Promise<T>): Promise<T> {
  const backends = createBackends({ env: process.env, credentials: await dockerCredentials() });
  try {
    return await run(backends);
  } finally {
    backends.close();
  }
}

export async function promoteCommand(args: string[], io: CliIO): Promise<number> {
  const options = {
    confirm: { type: 'boolean', default: false },
    prune: { type: 'boolean', default: false },
    project: { type: 'string' },
    parallel: { type: 'string', default: '8' },
    all: { type: 'boolean', default: false },
  } as const;
  const parsed = parseCommand(args, options, PROMOTE_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, dir, parallel } = parsed;
  return withBackends(async (backends) => {
    const r = await promote(
      { dir, confirm: values.confirm === true, prune: values.prune === true, project: values.project as string | undefined, parallel, limit: values.all ? Infinity : 50 },
      backends,
      io,
    );
    return r.exitCode;
  });
}

export async function validateManifestsCommand(args: string[], io: CliIO): Promise<number> {
  const options = {
    online: { type: 'boolean', default: false },
    project: { type: 'string' },
    parallel: { type: 'string', default: '8' },
  } as const;
  const parsed = parseCommand(args, options, VALIDATE_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, dir, parallel } = parsed;
  return withBackends((backends) => validateManifests({ dir, online: values.online === true, project: values.project as string | undefined, parallel }, backends, io));
}
