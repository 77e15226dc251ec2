// `explain`: the same decision a client would get, with the reasoning printed. It calls the
// very function the server calls, with every mirror taken as up unless told otherwise, and on a
// route with an origin it runs the availability checks serve would run (HEAD on each mirror
// the decision asks about), or with --offline lists them and makes none.
import { parseArgs } from 'node:util';
import type { CompiledConfig } from '../config/compiled.js';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import { decide, type Decision, type RequestFacts } from '../decision/decide.js';
import { parseIp } from '../geo/ip.js';
import { createMirrorState } from '../mirrors/config-to-state.js';
import type { Availability, AvailabilityCheck, MirrorStateView } from '../mirrors/state-view.js';
import { auditedMirrors } from '../trust/audit.js';
import { loadExpected } from '../trust/expected.js';
import { checkOwnership, TrustState } from '../trust/state.js';
import type { CliIO } from './io.js';

const HELP = `Usage: artifact-serving explain --config FILE --ip IP [options] PATH

Shows how a GET of PATH from a client at IP is routed: where the client is (country, continent,
cloud region), the candidate mirrors in order, which one is chosen and why, and the redirect.

Options:
  --config FILE         redirector config (required)
  --ip IP               the client's address as the server would see it on the socket (required)
  --forwarded-for LIST  an X-Forwarded-For header value (believed only if --ip is a trusted proxy)
  --method M            GET (default) or HEAD
  --down NAME           treat mirror NAME as down (repeatable)
  --holds NAME          treat mirror NAME as holding the object, without checking (repeatable):
                        e.g. a blob bucket not reachable from here
  --offline             make no availability checks: list the ones serve would make (HEAD URLs)
                        and decide as if none answered in time
  --json                print the decision as JSON

Mirror health is not probed: every mirror counts as up unless --down names it. On a route with
an origin, and for blob buckets (blobs: mirrors), the availability checks serve makes before
redirecting to a mirror are made too (and
waited for, up to each check's own timeout), so the answer is what serve gives once they are in.
`;

export async function explainCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      ip: { type: 'string' },
      'forwarded-for': { type: 'string' },
      method: { type: 'string', default: 'GET' },
      down: { type: 'string', multiple: true, default: [] },
      holds: { type: 'string', multiple: true, default: [] },
      offline: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (!values.config || !values.ip || positionals.length !== 1) {
    io.stderr(`explain needs --config, --ip and one PATH\n\n${HELP}`);
    return 2;
  }
  if (!parseIp(values.ip)) {
    io.stderr(`--ip: "${values.ip}" is not an IPv4 or IPv6 address\n`);
    return 2;
  }
  const loaded = loadConfigFile(values.config);
  if (!loaded.ok) {
    io.stderr(`${loaded.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  const target = positionals[0]!;
  const q = target.indexOf('?');
  const down = new Set(values.down);
  const holds = new Set(values.holds);
  for (const name of [...down, ...holds]) {
    if (!loaded.config.mirrors.has(name)) {
      io.stderr(`"${name}" is not a mirror in ${values.config} (mirrors: ${[...loaded.config.mirrors.keys()].join(', ')})\n`);
      return 2;
    }
  }
  const facts: RequestFacts = {
    method: values.method.toUpperCase(),
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    peerAddress: values.ip,
    forwardedFor: values['forwarded-for'],
  };
  // serve's own state, without probes (they take rounds to say anything): the availability cache
  // and breakers fed by real HEADs, exactly as a request on a cold server uses them.
  const live = createMirrorState(loaded.config);
  live.replaceMirrors([]);
  // Mirror trust as serve starts with it: the expected content, and each mirror's ownership token
  // read now (with --offline, not read: such a mirror is out, as on a server that has not read it).
  const expected = await loadExpected(loaded.config.trust);
  if (!expected.ok) {
    io.stderr(`${expected.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  const trust = new TrustState();
  trust.apply(loaded.config, expected.expected);
  if (loaded.config.trust?.ownershipKey) {
    if (values.offline) {
      for (const mirror of auditedMirrors(loaded.config, expected.expected).keys()) trust.setOwnership(mirror, 'ownership token not read (--offline)');
    } else {
      for (const [mirror, problem] of await checkOwnership(loaded.config, expected.expected)) trust.setOwnership(mirror, problem);
    }
  }
  const state: MirrorStateView = {
    health: (name) => (down.has(name) ? { up: false, reason: 'marked down with --down' } : live.health(name)),
    availability: (mirror, key) => (holds.has(mirror) ? HELD : live.availability(mirror, key)),
    isStale: (mirror, key) => !holds.has(mirror) && live.isStale(mirror, key),
    trust,
  };
  try {
    let decision = decide(facts, loaded.config, state);
    let checks: CheckReport[] = [];
    if (decision.kind === 'check') {
      const asked = decision.checks.filter((c) => !down.has(c.mirror));
      if (!values.offline) await live.ensureChecked(asked, CHECKS_DEADLINE_MS);
      checks = asked.map((c) => ({ ...c, result: values.offline ? NOT_CHECKED : describeAvailability(live.availability(c.mirror, c.key)) }));
      decision = decide({ ...facts, checksDone: true }, loaded.config, state);
      if (values.offline) decision = markOffline(decision, checks);
    }
    io.stdout(
      values.json
        ? `${JSON.stringify({ ...(toJson(decision, bucketsOf(loaded.config)) as object), ...(checks.length > 0 && { checks, offline: values.offline === true }) }, null, 2)}\n`
        : describe(decision, checks, values.offline === true, bucketsOf(loaded.config)),
    );
    return decision.kind === 'error' ? 1 : 0;
  } finally {
    await live.stop();
  }
}

/** explain waits for its checks (each has its own HEAD timeout); this only bounds a stuck one. */
const CHECKS_DEADLINE_MS = 30_000;
const NOT_CHECKED = 'not checked (--offline)';
/** What --holds says of every object on the mirror. */
const HELD: Availability = { state: 'present', checkedAt: 0 };

interface CheckReport extends AvailabilityCheck {
  result: string;
}

function describeAvailability(known: Availability | undefined): string {
  if (!known) return 'no answer';
  if (known.state === 'present') return `present${known.contentLength === undefined ? '' : ` (${known.contentLength} bytes)`}`;
  if (known.state === 'absent') return `absent (HTTP ${known.status})`;
  return `error: ${known.reason}`;
}

/** With --offline, a mirror skipped for want of a check says so, and which URL serve would HEAD. */
function markOffline(decision: Decision, checks: CheckReport[]): Decision {
  const urls = new Map(checks.map((c) => [c.mirror, c.url]));
  if (decision.kind === 'mirrorlist') {
    const entries = decision.entries.map((e) => {
      const url = urls.get(e.mirror);
      return url && !e.usable ? { ...e, reason: `availability not checked (--offline): serve would HEAD ${url}` } : e;
    });
    return { ...decision, entries };
  }
  if (decision.kind !== 'redirect' && decision.kind !== 'error') return decision;
  const verdicts = decision.verdicts?.map((v) => {
    const url = urls.get(v.mirror);
    return url && v.outcome === 'skipped' ? { ...v, reason: `availability not checked (--offline): serve would HEAD ${url}` } : v;
  });
  return verdicts ? { ...decision, verdicts } : decision;
}

/** The config's blob buckets (`blobs:` mirrors): explain names them as such wherever a mirror is named. */
function bucketsOf(config: CompiledConfig): ReadonlySet<string> {
  return new Set([...config.mirrors.values()].filter((m) => m.kind === 'blobs').map((m) => m.name));
}

/** A mirror's name as explain prints it: `s3-us-east-1 (blob bucket)` for a bucket. */
function label(name: string, buckets: ReadonlySet<string>): string {
  return buckets.has(name) ? `${name} (blob bucket)` : name;
}

function describe(decision: Decision, checks: CheckReport[], offline: boolean, buckets: ReadonlySet<string>): string {
  const lines: string[] = [];
  if (decision.kind === 'v2-base') return '200 OK: registry API base (/v2/), answered by the redirector itself\n';
  if (decision.kind === 'check') return `needs availability checks: ${decision.checks.map((c) => c.mirror).join(', ')}\n`;
  const checkLines = checks.map((c, i) => `${i === 0 ? 'checks    ' : '          '} HEAD ${c.url} -> ${c.result}${buckets.has(c.mirror) ? ` (blob bucket ${c.mirror})` : ''}`);
  if (offline && checks.length > 0) checkLines.unshift('offline: no availability checks were made; serve would make these before answering');
  // What serve would start after answering: refreshes of stale answers, a breaker's trial check.
  const refresh = decision.refresh ?? [];
  checkLines.push(...refresh.map((c, i) => `${i === 0 ? 'refresh   ' : '          '} HEAD ${c.url} (after the answer, in the background)`));
  if (decision.kind === 'mirrorlist') {
    const entries = decision.entries.map((e, i) => `  ${String(i + 1).padStart(2)}. ${e.usable ? 'usable ' : 'skipped'} ${e.mirror}  [region ${e.region}]  ${e.usable ? e.url : e.reason}`);
    return `${decision.format} for ${decision.path}:\n${[...entries, ...checkLines].join('\n')}\n`;
  }
  const client = decision.client;
  if (client) {
    lines.push(`client     ${client.ip.text} (IPv${client.ip.version})`);
    lines.push(`  country  ${client.country ?? 'unknown'}`);
    lines.push(`  continent ${client.continent ?? 'unknown'}`);
    lines.push(`  cloud    ${client.cloud ?? 'none'}`);
  }
  if (decision.kind === 'redirect') lines.push(`route      ${decision.route.prefix} (${decision.route.type})`);
  const verdicts = decision.verdicts ?? [];
  if (verdicts.length > 0) {
    lines.push('candidates (best first):');
    for (const v of verdicts) lines.push(`  ${v.outcome.padEnd(11)} ${label(v.mirror, buckets)}  [region ${v.region}]${v.reason ? `  ${v.reason}` : ''}`);
  }
  lines.push(...checkLines);
  if (decision.kind === 'redirect') {
    const passedOver = decision.verdicts.some((v) => v.outcome === 'skipped');
    lines.push(`decision   ${decision.status} -> ${decision.location}${buckets.has(decision.mirror.name) ? ` (blob bucket ${decision.mirror.name})` : ''}`);
    lines.push(
      `  because  ${
        decision.region === 'origin'
          ? "no mirror could serve it: the route's origin is the last resort"
          : decision.region !== 'default'
            ? `the client matches region "${decision.region}"`
            : passedOver
              ? 'the better-ranked mirrors were skipped (see above)'
              : 'no more specific region matched the client'
      }`,
    );
  } else {
    lines.push(`decision   ${decision.status} ${decision.code}: ${decision.message}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The decision as --json prints it; `blobBucket: true` marks a verdict, chosen mirror or alternative that is a blob bucket. */
function toJson(decision: Decision, buckets: ReadonlySet<string>): unknown {
  const mark = <T extends { mirror: string }>(v: T): T & { blobBucket?: true } => (buckets.has(v.mirror) ? { ...v, blobBucket: true } : v);
  if (decision.kind === 'error' || decision.kind === 'mirrorlist' || decision.kind === 'v2-base') {
    const { client, ...rest } = decision;
    const verdicts = 'verdicts' in rest && rest.verdicts ? { verdicts: rest.verdicts.map(mark) } : {};
    return { ...rest, ...verdicts, ...('route' in rest ? { route: { prefix: rest.route.prefix, type: rest.route.type } } : {}), client: client && { ...client, ip: client.ip.text } };
  }
  if (decision.kind !== 'redirect') return decision;
  const { route, mirror, client, alternatives, verdicts, ...rest } = decision;
  return {
    ...rest,
    route: { prefix: route.prefix, type: route.type },
    mirror: mirror.name,
    ...(buckets.has(mirror.name) && { blobBucket: true }),
    client: { ...client, ip: client.ip.text },
    verdicts: verdicts.map(mark),
    alternatives: alternatives.map((a) => mark({ mirror: a.mirror.name, region: a.region, url: a.url })),
  };
}
