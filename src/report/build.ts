// From counters to the report operators read: shares, costs, sorted and cut to --top rows.
// Both renderers (text and JSON) print this one structure, so they never disagree.
import { UNKNOWN, type Aggregates, type PlaceStats, type StatusCounts, type Traffic } from './aggregate.js';
import type { FreshnessRow } from './freshness.js';
import { costOf, priceOf, type Prices } from './prices.js';
import type { LatencyHistogram, Summary } from './quantiles.js';

export interface InputFacts {
  files: string[];
  lines: number;
  valid: number;
  malformed: number;
  /** Valid lines outside --since/--until. */
  filteredOut: number;
  /** The first few malformed lines, to find them. */
  malformedSamples: { file: string; line: number; reason: string }[];
  /** Files that stopped early (a truncated gzip, a read error); their lines up to there count. */
  readErrors: { file: string; message: string }[];
  /** Audit lines (type "audit"), when there were any: read for freshness, not counted as requests. */
  auditLines?: number;
}

export interface CostRow {
  name: string;
  requests: number;
  redirects: number;
  getRedirects: number;
  bytes: number;
  /** Share of GET redirects with no known size: their bytes are missing from `bytes` and `cost`. */
  unsizedShare: number | null;
  /** Only on mirror rows. */
  pricePerGB?: number | null;
  /** USD for `bytes`; null without a price file. */
  cost: number | null;
  /** Bytes on mirrors with no price (and no `default:`), left out of `cost`. */
  unpricedBytes: number;
}

export interface LatencyRow extends Summary {
  name: string;
}

export interface ReachRow {
  country: string;
  continent: string | null;
  requests: number;
  redirectShare: number;
  okShare: number;
  clientErrorShare: number;
  serverErrorShare: number;
  unavailableShare: number;
  topMirror: { name: string; share: number } | null;
  topRegion: { name: string; share: number } | null;
  /** Share of redirects that fell through to the route's default or origin. */
  fallbackShare: number;
  note: string;
}

export interface Report {
  range: { from: string | null; to: string | null; seconds: number };
  filter: { since: string | null; until: string | null };
  input: InputFacts;
  totals: CostRow & { status: StatusCounts; requestsPerSecond: number | null };
  prices: Prices | null;
  cost: { byMirror: CostRow[]; byContinent: CostRow[]; byCountry: CostRow[] };
  latency: { overall: LatencyRow; byRoute: LatencyRow[]; byMirror: LatencyRow[] };
  /** Flagged countries: most redirects on the default, on the origin, or on the two together. */
  reachability: { countries: ReachRow[]; servedByDefault: string[]; servedByOrigin: string[]; servedByDefaultAndOrigin: string[] };
  /** Rows per table, 0 for all; tables cut to it say how many rows they had in `rows`. */
  top: number;
  rows: { mirrors: number; continents: number; countries: number; routes: number };
  /** Per mirror, from the audit lines: how far it lags behind production (empty without them). */
  freshness: FreshnessRow[];
}

export interface BuildOptions {
  input: InputFacts;
  prices: Prices | null;
  top: number;
  since: number | undefined;
  until: number | undefined;
  freshness?: FreshnessRow[];
}

/** More than this share of a country's redirects on the default, the origin or both together flags it. */
const FALLBACK_FLAG_SHARE = 0.5;

function fallbackNote(byDefault: number, byOrigin: number): string {
  if (byDefault > FALLBACK_FLAG_SHARE) return 'served by default';
  if (byOrigin > FALLBACK_FLAG_SHARE) return 'served by origin';
  // Split between the two (say 50/50): no regional mirror serves it either.
  if (byDefault + byOrigin > FALLBACK_FLAG_SHARE) return 'served by default and origin';
  return '';
}

export function buildReport(agg: Aggregates, options: BuildOptions): Report {
  const { prices, top } = options;
  const cut = <T>(rows: T[]) => (top > 0 ? rows.slice(0, top) : rows);
  const seconds = agg.first === undefined || agg.last === undefined ? 0 : (agg.last - agg.first) / 1000;

  const mirrorRows = [...agg.total.byMirror].map(([name, t]) => {
    const price = prices ? (priceOf(prices, name) ?? null) : null;
    const row = costRow(name, t, new Map([[name, t]]), prices);
    return { ...row, pricePerGB: price };
  });
  const placeRows = (places: Map<string, PlaceStats>) => [...places].map(([name, p]) => costRow(name, p.traffic, p.byMirror, prices));
  const countries = [...agg.countries].map(([name, p]) => reachRow(name, p));

  const totals = costRow('total', agg.total.traffic, agg.total.byMirror, prices);
  return {
    range: {
      from: agg.first === undefined ? null : new Date(agg.first).toISOString(),
      to: agg.last === undefined ? null : new Date(agg.last).toISOString(),
      seconds,
    },
    filter: {
      since: options.since === undefined ? null : new Date(options.since).toISOString(),
      until: options.until === undefined ? null : new Date(options.until).toISOString(),
    },
    input: options.input,
    totals: { ...totals, status: agg.total.status, requestsPerSecond: seconds > 0 ? totals.requests / seconds : null },
    prices,
    cost: {
      byMirror: cut(sortRows(mirrorRows)),
      byContinent: cut(sortRows(placeRows(agg.continents))),
      byCountry: cut(sortRows(placeRows(agg.countries))),
    },
    latency: {
      overall: { name: 'all', ...agg.latency.summary() },
      byRoute: cut(latencyRows(agg.latencyByRoute)),
      byMirror: cut(latencyRows(agg.latencyByMirror)),
    },
    reachability: {
      countries: cut(countries.sort((a, b) => b.requests - a.requests || a.country.localeCompare(b.country))),
      // Every flagged country, not only the top rows: a small, badly served country matters.
      servedByDefault: countries
        .filter((c) => c.note === 'served by default')
        .map((c) => c.country)
        .sort(),
      servedByOrigin: countries
        .filter((c) => c.note === 'served by origin')
        .map((c) => c.country)
        .sort(),
      servedByDefaultAndOrigin: countries
        .filter((c) => c.note === 'served by default and origin')
        .map((c) => c.country)
        .sort(),
    },
    top,
    rows: { mirrors: mirrorRows.length, continents: agg.continents.size, countries: agg.countries.size, routes: agg.latencyByRoute.size },
    freshness: options.freshness ?? [],
  };
}

/** A group's traffic, costed mirror by mirror (each mirror has its own price). */
function costRow(name: string, t: Traffic, byMirror: Map<string, Traffic>, prices: Prices | null): CostRow {
  let cost = 0;
  let unpricedBytes = 0;
  for (const [mirror, m] of byMirror) {
    const price = prices ? priceOf(prices, mirror) : undefined;
    if (price === undefined) unpricedBytes += m.bytes;
    else cost += costOf(m.bytes, price);
  }
  return {
    name,
    requests: t.requests,
    redirects: t.redirects,
    getRedirects: t.getRedirects,
    bytes: t.bytes,
    unsizedShare: t.getRedirects === 0 ? null : (t.getRedirects - t.sized) / t.getRedirects,
    cost: prices ? cost : null,
    unpricedBytes: prices ? unpricedBytes : t.bytes,
  };
}

function sortRows(rows: CostRow[]): CostRow[] {
  // Biggest spend first; without prices, biggest egress, then most requests.
  return rows.sort((a, b) => (b.cost ?? 0) - (a.cost ?? 0) || b.bytes - a.bytes || b.requests - a.requests || a.name.localeCompare(b.name));
}

function latencyRows(map: Map<string, LatencyHistogram>): LatencyRow[] {
  return [...map].map(([name, h]) => ({ name, ...h.summary() })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

function reachRow(country: string, p: PlaceStats): ReachRow {
  const n = p.traffic.requests;
  const redirects = p.traffic.redirects;
  const share = (x: number, of: number) => (of === 0 ? 0 : x / of);
  const fallback = (p.byRegion.get('default') ?? 0) + (p.byRegion.get('origin') ?? 0);
  const topOf = (m: Map<string, number>) => {
    const best = [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    return best ? { name: best[0], share: share(best[1], redirects) } : null;
  };
  const byDefault = share(p.byRegion.get('default') ?? 0, redirects);
  const byOrigin = share(p.byRegion.get('origin') ?? 0, redirects);
  return {
    country,
    continent: p.continent ?? null,
    requests: n,
    redirectShare: share(p.status['3xx'], n),
    okShare: share(p.status['2xx'], n),
    clientErrorShare: share(p.status['4xx'], n),
    serverErrorShare: share(p.status['5xx'], n),
    unavailableShare: share(p.status['503'], n),
    topMirror: topOf(new Map([...p.byMirror].map(([name, t]) => [name, t.redirects]))),
    topRegion: topOf(p.byRegion),
    fallbackShare: share(fallback, redirects),
    // The unknown "country" is private or unlocated addresses: a default there is expected.
    note: country === UNKNOWN ? '' : fallbackNote(byDefault, byOrigin),
  };
}
