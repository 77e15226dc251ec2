// `artifact-serving report [options] LOG...`: read access logs (files, `-` for stdin, .gz through
// zlib) a line at a time, fold them into counters, and print the report. Nothing is held per
// line, so a log of any size runs in the same small memory.
// Exit codes: 0 at least one valid line was read, 1 no valid lines, 2 usage error.
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline, Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { CliIO } from '../commands/io.js';
import { addEntry, createAggregates, type Aggregates } from './aggregate.js';
import { buildReport, type InputFacts } from './build.js';
import { FreshnessAggregates } from './freshness.js';
import { parseLine } from './parse.js';
import { loadPrices, type Prices } from './prices.js';
import { renderJson } from './render-json.js';
import { renderText } from './render-text.js';
import { parseAuditLine } from '../trust/audit-log.js';
import { errorMessage } from '../util/error-message.js';

const REPORT_HELP = `Usage: artifact-serving report [options] LOG...

Summarise redirector access logs (one JSON line per request): egress and estimated cost per
mirror and client country/continent, decision latency quantiles, and per country how requests
were answered and by which mirror; with mirror trust on, each mirror's freshness from the
audit lines serve writes (objects behind, oldest and median lag). LOG is a file, a .gz file, or - for stdin. See docs/report.md.

  --prices FILE   YAML of USD per GB by mirror name, plus default: for the rest
                  (e.g. "ar-us-east4: 0.12"); without it costs are not estimated
  --since TIME    only requests at or after TIME (ISO 8601, e.g. 2026-06-01T00:00:00Z)
  --until TIME    only requests before TIME
  --top N         rows per table (default 20; 0 for all)
  --json          print the report as JSON
  -h, --help      this text

Malformed lines are counted and the first few shown with their line numbers. Exits 0 when at
least one valid line was read, 1 when none was, 2 on a usage error.
`;

/** How many malformed lines are listed by number (all are counted). */
const MALFORMED_SAMPLES = 10;

export async function reportCommand(args: string[], io: CliIO, stdin: Readable = process.stdin): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`report: ${message}\n\n${REPORT_HELP}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        prices: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        top: { type: 'string', default: '20' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usage(errorMessage(e));
  }
  const { values, positionals: logs } = parsed;
  if (values.help) {
    io.stdout(REPORT_HELP);
    return 0;
  }
  if (logs.length === 0) return usage('name at least one LOG (or - for stdin)');
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 0) return usage(`--top must be a whole number >= 0, got "${values.top}"`);
  const since = values.since === undefined ? undefined : Date.parse(values.since);
  const until = values.until === undefined ? undefined : Date.parse(values.until);
  if (Number.isNaN(since)) return usage(`--since is not an ISO time: "${values.since}"`);
  if (Number.isNaN(until)) return usage(`--until is not an ISO time: "${values.until}"`);
  if (since !== undefined && until !== undefined && since >= until) return usage('--since must be before --until');
  let prices: Prices | null = null;
  if (values.prices !== undefined) {
    const loaded = loadPrices(values.prices);
    if (!loaded.ok) return usage(loaded.problem);
    prices = loaded.prices;
  }
  // Check every file before reading any: a typo should not cost a long read of the others.
  if (logs.filter((l) => l === '-').length > 1) return usage('- (stdin) can be named only once');
  for (const log of logs) {
    if (log === '-') continue;
    try {
      if (!statSync(log).isFile()) return usage(`${log} is not a file`);
    } catch (e) {
      return usage(`cannot read ${log}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
    }
  }

  const agg = createAggregates();
  const fresh = new FreshnessAggregates();
  const input: InputFacts = { files: logs, lines: 0, valid: 0, malformed: 0, filteredOut: 0, malformedSamples: [], readErrors: [] };
  for (const log of logs) {
    const name = log === '-' ? 'stdin' : log;
    try {
      await readLog(openLog(log, stdin), name, agg, fresh, input, since, until);
    } catch (e) {
      // A truncated gzip or an I/O error: keep what was read, say where it stopped.
      input.readErrors.push({ file: name, message: errorMessage(e) });
    }
  }

  const report = buildReport(agg, { input, prices, top, since, until, freshness: fresh.rows() });
  io.stdout(values.json ? renderJson(report) : renderText(report));
  if (input.valid === 0 && !input.auditLines) {
    io.stderr(`report: no valid access-log lines in ${logs.join(', ')}\n`);
    return 1;
  }
  return 0;
}

function openLog(log: string, stdin: Readable): Readable {
  const source = log === '-' ? stdin : createReadStream(log);
  // A named .gz is gunzipped; anything else is sniffed (zcat-less pipes: `cat log.gz | report -`).
  if (log.endsWith('.gz')) return gunzip(source);
  return Readable.from(sniffGzip(source));
}

/** pipeline() forwards errors from either stage to the gunzip stream the reader iterates. */
function gunzip(source: Readable): Readable {
  return pipeline(source, createGunzip(), () => {});
}

/** Yields the stream's bytes, gunzipped when they start with the gzip magic number. */
async function* sniffGzip(source: Readable): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const first = await iterator.next();
  if (first.done) return;
  const head = Buffer.isBuffer(first.value) ? first.value : Buffer.from(first.value);
  const rest = async function* () {
    yield head;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
  };
  if (head[0] === 0x1f && head[1] === 0x8b) yield* gunzip(Readable.from(rest()));
  else yield* rest();
}

async function readLog(stream: Readable, name: string, agg: Aggregates, fresh: FreshnessAggregates, input: InputFacts, since: number | undefined, until: number | undefined): Promise<void> {
  let lineNumber = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNumber++;
    // Blank lines (a trailing newline, a gap from a restart) are not entries, nor malformed.
    if (line.trim() === '') continue;
    input.lines++;
    // The background audit's lines (type "audit"): freshness, not requests.
    const audit = parseAuditLine(line);
    if (audit?.ok) {
      if ((since === undefined || audit.audit.time >= since) && (until === undefined || audit.audit.time < until)) fresh.add(audit.audit);
      input.auditLines = (input.auditLines ?? 0) + 1;
      continue;
    }
    const parsed = audit ?? parseLine(line);
    if (!parsed.ok) {
      input.malformed++;
      if (input.malformedSamples.length < MALFORMED_SAMPLES) input.malformedSamples.push({ file: name, line: lineNumber, reason: parsed.reason });
      continue;
    }
    input.valid++;
    const { entry } = parsed;
    if ((since !== undefined && entry.time < since) || (until !== undefined && entry.time >= until)) {
      input.filteredOut++;
      continue;
    }
    addEntry(agg, entry);
  }
}
