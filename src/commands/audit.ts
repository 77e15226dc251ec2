// `audit`: checks every mirror (or one) against what production must hold, and prints one line
// per finding: `mirror object problem`. Exit 1 on any finding, 0 when every mirror is proven.
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import { credentialsFile, type CredentialLookup } from '../oci/auth.js';
import { errorMessage } from '../util/error-message.js';
import { auditedMirrors, formatFinding, runAudit } from '../trust/audit.js';
import { DEFAULT_AUDIT } from '../trust/config.js';
import { loadExpected } from '../trust/expected.js';
import type { CliIO } from './io.js';

const HELP = `Usage: artifact-serving audit --config FILE [--mirror NAME] [--json] [--rate N] [--sample-bytes N]

Checks each mirror of the routes with expected content (trust.expected in the config) against
it: every promoted manifest (fetched and hashed), platform manifest and blob (HEAD: size and
Docker-Content-Digest), every tag (does it point at the promoted digest), the signature,
attestation and SBOM tags and referrers the origin holds, the mirror's ownership token, and a
random sample of blobs and files downloaded and hashed within a byte budget.
Prints one line per finding, "mirror object problem", and a summary on stderr.

Options:
  --config FILE        redirector config (required)
  --mirror NAME        audit only this mirror
  --json               the findings and figures as JSON on stdout
  --rate N             requests per second, all mirrors together (default trust.audit.requestsPerSecond, 20)
  --sample-bytes N     bytes downloaded and hashed per mirror (default trust.audit.sampleBytes, 64 MiB)
Exit status: 0 no findings, 1 findings (or a config problem), 2 usage error.
`;

export async function auditCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      mirror: { type: 'string' },
      json: { type: 'boolean' },
      rate: { type: 'string' },
      'sample-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const sampleBytes = values['sample-bytes'] === undefined ? undefined : Number(values['sample-bytes']);
  if (!values.config || (rate !== undefined && !(rate > 0)) || (sampleBytes !== undefined && !(Number.isSafeInteger(sampleBytes) && sampleBytes >= 0))) {
    io.stderr(`audit needs --config FILE; --rate is a positive number, --sample-bytes a whole number of bytes\n\n${HELP}`);
    return 2;
  }
  const loaded = loadConfigFile(values.config);
  if (!loaded.ok) {
    io.stderr(`${loaded.problems.map(formatProblem).join('\n')}\n${values.config}: ${loaded.problems.length} problem(s)\n`);
    return 1;
  }
  const config = loaded.config;
  if (!config.trust || config.trust.expected.length === 0) {
    io.stderr(`${values.config}: no trust.expected: nothing says what the mirrors must hold (see README, "Trust model")\n`);
    return 1;
  }
  const expected = await loadExpected(config.trust);
  if (!expected.ok) {
    io.stderr(`${expected.problems.map(formatProblem).join('\n')}\n${values.config}: ${expected.problems.length} problem(s) in its expected content\n`);
    return 1;
  }
  if (values.mirror !== undefined && auditedMirrors(config, expected.expected, values.mirror).size === 0) {
    const names = [...auditedMirrors(config, expected.expected).keys()];
    io.stderr(`no mirror "${values.mirror}" on a route with expected content (audited mirrors: ${names.join(', ') || 'none'})\n`);
    return 2;
  }
  let credentials: CredentialLookup | undefined;
  try {
    credentials = config.trust.credentials ? await credentialsFile(config.trust.credentials) : undefined;
  } catch (error) {
    io.stderr(`trust.credentials: ${errorMessage(error)}\n`);
    return 1;
  }
  const result = await runAudit(config, expected.expected, {
    ...(values.mirror !== undefined && { mirror: values.mirror }),
    ...(credentials && { credentials }),
    requestsPerSecond: rate ?? config.trust.audit.requestsPerSecond ?? DEFAULT_AUDIT.requestsPerSecond,
    sampleBytes: sampleBytes ?? config.trust.audit.sampleBytes,
  });
  const seconds = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
  if (values.json) {
    const proofs = Object.fromEntries([...result.proofs].map(([m, p]) => [m, { verified: p.verified, proven: p.proven.reduce((n, b) => n + (b === 0 ? 0 : 1), 0) }]));
    io.stdout(
      `${JSON.stringify({ startedAt: result.startedAt, finishedAt: result.finishedAt, mirrors: result.mirrors, findings: result.findings, proofs, requests: result.requests, sampledBytes: result.sampledBytes }, null, 1)}\n`,
    );
  } else {
    for (const f of result.findings) io.stdout(`${formatFinding(f)}\n`);
  }
  io.stderr(`audited ${result.mirrors.length} mirror(s) in ${seconds.toFixed(1)} s: ${result.requests} requests, ${result.sampledBytes} bytes hashed, ${result.findings.length} finding(s)\n`);
  return result.findings.length > 0 ? 1 : 0;
}
