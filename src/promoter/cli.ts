// The promoter's commands, wired into src/cli.ts: `promote DIR` and `validate DIR`.
// Exit codes: 0 fine, 1 something is wrong (an error in a manifest or the plan, a failed action),
// 2 usage error.
import { parseArgs } from 'node:util';
import type { CliIO } from '../commands/io.js';
import { dockerCredentials } from '../oci/auth.js';
import { createBackends } from './backends.js';
import { DEFAULT_LEASE } from './lease.js';
import { DEFAULT_PRUNE_GRACE_MS, promote } from './promote.js';
import { validateManifests } from './validate.js';
import { errorMessage } from '../util/error-message.js';

const PROMOTE_HELP = `Usage: artifact-serving promote DIR|FILE [--confirm] [--prune] [--project NAME] [--parallel N] [--verbose]
                                 [--timeout T] [--lease-wait T] [--lease-stale T] [--prune-grace T]

Promote images and files from each project's staging area to production, as the reviewed
manifests under DIR say (kpromo's forms: manifests/+images/ and filestores/+manifests/ at DIR or
one level below; a project folder with promoter-manifest.yaml or filepromoter-manifest.yaml; or
one single-file manifest FILE). The legacy files/ folder is not read (as in kpromo).

Without --confirm this is a dry run: it prints the plan per project and destination (copy, tag,
move, delete, bytes) and exits 1 if the plan has an error (missing in staging, sha256 mismatch,
a tag that would move, a location that cannot be reached). A project with errors is reported
and skipped; the others go ahead. A registry host or bucket no connection can be made to
(refused, DNS, timeout, TLS) is marked unreachable once and its other items are not tried.

  --confirm        execute the plan
  --prune          also delete what a manifest no longer lists, if this promoter's ledger says
                   it wrote it and production still holds exactly that
  --prune-grace T  before deleting, the ledger marks what will go as retiring (redirectors that
                   read it stop sending clients to mirrors for it); the deletions wait this long
                   after that mark (default 10m; 0: no wait). A rerun after a crash waits only
                   for what is left of it
  --project NAME   only this project (its directory name)
  --parallel N     concurrent transfers (default 8)
  --verbose, -v    print every planned action (default: a plan of over 200 actions is summarised
                   per project and destination, counts per action kind; moves, replacements,
                   deletions and every error are always listed). --all is an alias
  --timeout T      every network call: the longest wait for a response, and for the next bytes
                   of a body (default 60s); a silent endpoint is reported unreachable
  --lease-wait T   how long --confirm waits for a destination another run holds before
                   reporting it locked and going on with the others (default 60s; 0: no wait)
  --lease-stale T  a lease not renewed for this long is taken over (default 5m; the holder
                   renews every 30s, or a tenth of this if shorter)

T is a number with a unit: 500ms, 90s, 5m (a bare number is seconds).

S3 endpoints and credentials come from the usual AWS environment (AWS_ENDPOINT_URL_S3 for
S3-compatible servers); registry credentials from docker's config.json (DOCKER_CONFIG).
`;

const VALIDATE_HELP = `Usage: artifact-serving validate DIR|FILE [--online] [--project NAME] [--parallel N] [--timeout T]

Check promoter manifests under DIR (or one single-file manifest): strict schema, digest and tag
syntax, duplicate or overlapping tags, and that each project promotes only out of its own
staging area (a warning unless promoter-staging.yaml says outsideStaging: error). Problems are
printed as file:line:column: message; warnings and notes are prefixed so. With --online, also
check that every digest and file exists in staging with the right sha256, and that production
holds what each destination's ledger says was promoted, with the recorded digest or sha256, and
no tag or file the manifests name with other content. Exits 1 on any error.

  --timeout T      every network call of --online (default 60s; T as 500ms, 90s, 5m)
`;

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;
type Values = Record<string, string | boolean | undefined>;

/** A duration flag: `500ms`, `90s`, `5m`, or a bare number of seconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Parses DIR plus options, answering --help and usage errors itself (then it returns the exit code). */
function parseCommand(args: string[], options: Options, help: string, io: CliIO): number | { values: Values; dir: string; parallel: number; durations: Map<string, number> } {
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
  const durations = new Map<string, number>();
  for (const flag of ['timeout', 'lease-wait', 'lease-stale', 'prune-grace']) {
    const v = values[flag];
    if (typeof v !== 'string') continue;
    const ms = parseDuration(v);
    // Only the lease wait and the prune grace may be 0 (do not wait).
    const zeroOk = flag === 'lease-wait' || flag === 'prune-grace';
    if (ms === undefined || (ms === 0 && !zeroOk)) {
      io.stderr(`--${flag} ${JSON.stringify(v)}: expected a duration such as 500ms, 90s or 5m${zeroOk ? '' : ', above 0'}\n\n${help}`);
      return 2;
    }
    durations.set(flag, ms);
  }
  return { values, dir: positionals[0] as string, parallel, durations };
}

async function withBackends<T>(timeoutMs: number | undefined, run: (backends: ReturnType<typeof createBackends>) => Promise<T>): Promise<T> {
  const timeouts = timeoutMs === undefined ? {} : { timeouts: { responseMs: timeoutMs, idleMs: timeoutMs } };
  const backends = createBackends({ env: process.env, credentials: await dockerCredentials(), ...timeouts });
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
    verbose: { type: 'boolean', short: 'v', default: false },
    all: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    'lease-wait': { type: 'string' },
    'lease-stale': { type: 'string' },
    'prune-grace': { type: 'string' },
  } as const;
  const parsed = parseCommand(args, options, PROMOTE_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, dir, parallel, durations } = parsed;
  const wait = durations.get('lease-wait');
  const stale = durations.get('lease-stale');
  const lease = {
    ...(wait !== undefined ? { waitMs: wait, pollMs: Math.min(DEFAULT_LEASE.pollMs, Math.max(50, wait / 10)) } : {}),
    ...(stale !== undefined ? { staleMs: stale, renewMs: Math.min(DEFAULT_LEASE.renewMs, Math.max(100, stale / 10)) } : {}),
  };
  return withBackends(durations.get('timeout'), async (backends) => {
    const r = await promote(
      {
        dir,
        confirm: values.confirm === true,
        prune: values.prune === true,
        project: values.project as string | undefined,
        parallel,
        verbose: values.verbose === true || values.all === true,
        lease,
        pruneGraceMs: durations.get('prune-grace') ?? DEFAULT_PRUNE_GRACE_MS,
      },
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
    timeout: { type: 'string' },
  } as const;
  const parsed = parseCommand(args, options, VALIDATE_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, dir, parallel, durations } = parsed;
  return withBackends(durations.get('timeout'), (backends) => validateManifests({ dir, online: values.online === true, project: values.project as string | undefined, parallel }, backends, io));
}
