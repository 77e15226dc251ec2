// The report for people: a summary, then aligned tables (cost, latency, reachability), then the
// malformed lines to go and look at. Numbers are rounded for reading; --json has them exact.
import type { CostRow, LatencyRow, Report } from './build.js';
import { RELATIVE_ERROR } from './quantiles.js';

export function renderText(report: Report): string {
  const out: string[] = [];
  const { totals, input, range } = report;
  out.push('Access log report');
  out.push(`  range     ${range.from ?? '-'} .. ${range.to ?? '-'} (${duration(range.seconds)})`);
  if (report.filter.since || report.filter.until) out.push(`  filter    --since ${report.filter.since ?? '-'} --until ${report.filter.until ?? '-'}`);
  out.push(`  input     ${plural(input.files.length, 'file')}, ${plural(input.lines, 'line')}: ${input.valid} valid, ${input.malformed} malformed, ${input.filteredOut} outside the time filter`);
  const s = totals.status;
  out.push(`  requests  ${totals.requests} (${totals.requestsPerSecond === null ? '-' : totals.requestsPerSecond.toFixed(2)}/s); 3xx ${s['3xx']}, 2xx ${s['2xx']}, 4xx ${s['4xx']}, 5xx ${s['5xx']} (503: ${s['503']})`);
  out.push(`  egress    ${bytes(totals.bytes)} over ${totals.getRedirects} GET redirects; ${pct(totals.unsizedShare)} of them had no known size (not counted)`);
  if (report.prices) {
    out.push(`  est. cost ${usd(totals.cost)}${totals.unpricedBytes > 0 ? `, plus ${bytes(totals.unpricedBytes)} on mirrors with no price` : ''}`);
  } else {
    out.push('  est. cost - (no --prices file)');
  }

  const costHeaders = ['requests', 'redirects', 'GET', 'egress', 'no size', 'est. cost'];
  const costCells = (r: CostRow) => [String(r.requests), String(r.redirects), String(r.getRedirects), bytes(r.bytes), pct(r.unsizedShare), usd(r.cost)];
  section(out, 'Cost by mirror', report.cost.byMirror.length, report.rows.mirrors, report.top);
  out.push(
    ...table(
      ['mirror', ...costHeaders.slice(1), '$/GB'],
      [...report.cost.byMirror.map((r) => [r.name, ...costCells(r).slice(1), r.pricePerGB == null ? '-' : String(r.pricePerGB)]), ['total', ...costCells(totals).slice(1), '']],
    ),
  );
  section(out, 'Cost by client continent', report.cost.byContinent.length, report.rows.continents, report.top);
  out.push(
    ...table(
      ['continent', ...costHeaders],
      report.cost.byContinent.map((r) => [r.name, ...costCells(r)]),
    ),
  );
  section(out, 'Cost by client country', report.cost.byCountry.length, report.rows.countries, report.top);
  out.push(
    ...table(
      ['country', ...costHeaders],
      report.cost.byCountry.map((r) => [r.name, ...costCells(r)]),
    ),
  );

  out.push('', `Decision latency, ms (quantiles within ${(RELATIVE_ERROR * 100).toFixed(1)}%; max exact)`);
  const latencyCells = (r: LatencyRow) => [r.name, String(r.count), ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max)];
  out.push(
    ...table(
      ['', 'requests', 'p50', 'p90', 'p99', 'max'],
      [
        latencyCells({ ...report.latency.overall, name: 'all' }),
        ...report.latency.byRoute.map((r) => latencyCells({ ...r, name: `route ${r.name}` })),
        ...report.latency.byMirror.map((r) => latencyCells({ ...r, name: `mirror ${r.name}` })),
      ],
    ),
  );

  section(out, 'Reachability by client country', report.reachability.countries.length, report.rows.countries, report.top);
  out.push(
    ...table(
      ['country', 'continent', 'requests', '3xx', '2xx', '4xx', '5xx', '503', 'top mirror', 'top region', 'default/origin', 'note'],
      report.reachability.countries.map((c) => [
        c.country,
        c.continent ?? '-',
        String(c.requests),
        pct(c.redirectShare),
        pct(c.okShare),
        pct(c.clientErrorShare),
        pct(c.serverErrorShare),
        pct(c.unavailableShare),
        c.topMirror ? `${c.topMirror.name} ${pct(c.topMirror.share)}` : '-',
        c.topRegion ? `${c.topRegion.name} ${pct(c.topRegion.share)}` : '-',
        pct(c.fallbackShare),
        c.note,
      ]),
    ),
  );
  const { servedByDefault, servedByOrigin, servedByDefaultAndOrigin } = report.reachability;
  out.push(`  served by default: ${servedByDefault.length === 0 ? 'none' : servedByDefault.join(' ')}`);
  if (servedByOrigin.length > 0) out.push(`  served by origin: ${servedByOrigin.join(' ')}`);
  if (servedByDefaultAndOrigin.length > 0) out.push(`  served by default and origin: ${servedByDefaultAndOrigin.join(' ')}`);

  if (report.freshness.length > 0) {
    out.push('', `Mirror freshness (background audit, ${plural(input.auditLines ?? 0, 'audit line')})`);
    out.push(
      ...table(
        ['mirror', 'behind', 'oldest lag', 'median lag', 'lags measured', 'last audit'],
        report.freshness.map((f) => [f.mirror, String(f.behind), lag(f.oldestLagSeconds), f.medianLagSeconds === null ? '-' : lag(f.medianLagSeconds), String(f.lagsMeasured), f.at]),
      ),
    );
  }

  if (input.malformed > 0 || input.readErrors.length > 0) {
    out.push('', `Malformed lines: ${input.malformed}${input.malformed > input.malformedSamples.length ? ` (first ${input.malformedSamples.length})` : ''}`);
    for (const m of input.malformedSamples) out.push(`  ${m.file}:${m.line}: ${m.reason}`);
    for (const e of input.readErrors) out.push(`  ${e.file}: stopped reading: ${e.message}`);
  }
  return `${out.join('\n')}\n`;
}

function section(out: string[], title: string, shown: number, total: number, top: number): void {
  out.push('', top > 0 && total > shown ? `${title} (top ${shown} of ${total})` : title);
}

/** Columns padded to their widest cell; the first column left-aligned, numbers right-aligned. */
function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((c, i) => (i === 0 || isText(headers[i]!) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()}`;
  return [line(headers), ...rows.map(line)];
}

function isText(header: string): boolean {
  return ['continent', 'top mirror', 'top region', 'note', 'last audit'].includes(header);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function pct(share: number | null): string {
  return share === null ? '-' : `${(share * 100).toFixed(1)}%`;
}

function usd(cost: number | null): string {
  if (cost === null) return '-';
  // Cents; amounts under a cent say so rather than print as $0.00 (--json has them exact).
  return cost > 0 && cost < 0.01 ? '<$0.01' : `$${cost.toFixed(2)}`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function ms(value: number | null): string {
  if (value === null) return '-';
  return value < 10 ? value.toFixed(3) : value < 1000 ? value.toFixed(1) : value.toFixed(0);
}

function lag(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)}s` : duration(seconds);
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}
