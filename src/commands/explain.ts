// `explain`: the same decision a client would get, with the reasoning printed. It calls the
// very function the server calls, with every mirror taken as up unless told otherwise.
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import { decide, type Decision } from '../decision/decide.js';
import { parseIp } from '../geo/ip.js';
import { ALL_UP, type MirrorStateView } from '../mirrors/state.js';
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
  --json                print the decision as JSON
`;

export function explainCommand(args: string[], io: CliIO): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      ip: { type: 'string' },
      'forwarded-for': { type: 'string' },
      method: { type: 'string', default: 'GET' },
      down: { type: 'string', multiple: true, default: [] },
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
  const state: MirrorStateView = { ...ALL_UP, health: (name) => (down.has(name) ? { up: false, reason: 'marked down with --down' } : { up: true }) };
  const decision = decide(
    {
      method: values.method.toUpperCase(),
      path: q === -1 ? target : target.slice(0, q),
      query: q === -1 ? '' : target.slice(q + 1),
      peerAddress: values.ip,
      forwardedFor: values['forwarded-for'],
      checksDone: true,
    },
    loaded.config,
    state,
  );
  io.stdout(values.json ? `${JSON.stringify(toJson(decision), null, 2)}\n` : describe(decision));
  return decision.kind === 'error' ? 1 : 0;
}

function describe(decision: Decision): string {
  const lines: string[] = [];
  if (decision.kind === 'v2-base') return '200 OK: registry API base (/v2/), answered by the redirector itself\n';
  if (decision.kind === 'check') return `needs availability checks: ${decision.checks.map((c) => c.mirror).join(', ')}\n`;
  if (decision.kind === 'mirrorlist') {
    return `${decision.format} for ${decision.path}:\n${decision.entries.map((e, i) => `  ${String(i + 1).padStart(2)}. ${e.usable ? 'usable ' : 'skipped'} ${e.mirror}  [region ${e.region}]  ${e.usable ? e.url : e.reason}`).join('\n')}\n`;
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
    for (const v of verdicts) lines.push(`  ${v.outcome.padEnd(11)} ${v.mirror}  [region ${v.region}]${v.reason ? `  ${v.reason}` : ''}`);
  }
  if (decision.kind === 'redirect') {
    lines.push(`decision   ${decision.status} -> ${decision.location}`);
    lines.push(`  because  ${decision.region === 'default' ? 'no more specific region matched the client' : `the client matches region "${decision.region}"`}`);
  } else {
    lines.push(`decision   ${decision.status} ${decision.code}: ${decision.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function toJson(decision: Decision): unknown {
  if (decision.kind === 'error' || decision.kind === 'mirrorlist') {
    const { client, ...rest } = decision;
    return { ...rest, ...('route' in rest ? { route: { prefix: rest.route.prefix, type: rest.route.type } } : {}), client: client && { ...client, ip: client.ip.text } };
  }
  if (decision.kind !== 'redirect') return decision;
  const { route, mirror, client, alternatives, ...rest } = decision;
  return {
    ...rest,
    route: { prefix: route.prefix, type: route.type },
    mirror: mirror.name,
    client: { ...client, ip: client.ip.text },
    alternatives: alternatives.map((a) => ({ mirror: a.mirror.name, region: a.region, url: a.url })),
  };
}
