// Folding access-log entries into counters as they stream past. Memory is bounded by the number
// of distinct mirrors, regions, countries and route types (all small and fixed by the config and
// the world), never by the number of lines: a 1 GB log costs what a 1 KB one does.
import type { AccessLogEntry } from '../server/access-log.js';
import { routeType } from './parse.js';
import { LatencyHistogram } from './quantiles.js';

/** Requests and egress for one group (a mirror, a country, a continent, or one mirror within them). */
export interface Traffic {
  requests: number;
  /** 3xx answers naming a mirror. */
  redirects: number;
  /** GET redirects: the ones that move bytes (a HEAD redirect downloads nothing). */
  getRedirects: number;
  /** GET redirects whose object size was known (logged as bytes). */
  sized: number;
  /** Sum of bytes over sized GET redirects: the egress the mirrors were sent. */
  bytes: number;
}

export interface StatusCounts {
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  /** 503 (no mirror can serve right now), also counted in 5xx. */
  '503': number;
}

export interface PlaceStats {
  traffic: Traffic;
  status: StatusCounts;
  /** Per mirror traffic, for costing the place at each mirror's price. */
  byMirror: Map<string, Traffic>;
  /** Redirects per region (as the config names it, or 'default' / 'origin'). */
  byRegion: Map<string, number>;
  continent: string | undefined;
}

export interface Aggregates {
  first: number | undefined;
  last: number | undefined;
  /** Everything; its byMirror is the per-mirror table. */
  total: PlaceStats;
  latency: LatencyHistogram;
  latencyByRoute: Map<string, LatencyHistogram>;
  latencyByMirror: Map<string, LatencyHistogram>;
  countries: Map<string, PlaceStats>;
  continents: Map<string, PlaceStats>;
}

/** The key for entries without a country or continent (private addresses, unknown to GeoIP). */
export const UNKNOWN = 'unknown';

function emptyTraffic(): Traffic {
  return { requests: 0, redirects: 0, getRedirects: 0, sized: 0, bytes: 0 };
}

function emptyPlace(continent?: string): PlaceStats {
  return { traffic: emptyTraffic(), status: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, '503': 0 }, byMirror: new Map(), byRegion: new Map(), continent };
}

export function createAggregates(): Aggregates {
  return {
    first: undefined,
    last: undefined,
    total: emptyPlace(),
    latency: new LatencyHistogram(),
    latencyByRoute: new Map(),
    latencyByMirror: new Map(),
    countries: new Map(),
    continents: new Map(),
  };
}

export function addEntry(agg: Aggregates, entry: AccessLogEntry): void {
  if (agg.first === undefined || entry.time < agg.first) agg.first = entry.time;
  if (agg.last === undefined || entry.time > agg.last) agg.last = entry.time;

  // A redirect is a 3xx that names a mirror; only GET redirects move an object's bytes.
  const mirror = entry.status >= 300 && entry.status < 400 ? entry.mirror : undefined;
  const isGet = mirror !== undefined && entry.method === 'GET';
  const sized = isGet && entry.bytes !== undefined;
  const bytes = sized ? entry.bytes! : 0;
  const count = (t: Traffic) => {
    t.requests++;
    if (mirror === undefined) return;
    t.redirects++;
    if (!isGet) return;
    t.getRedirects++;
    if (sized) {
      t.sized++;
      t.bytes += bytes;
    }
  };

  const country = getOrAdd(agg.countries, entry.country ?? UNKNOWN, () => emptyPlace(entry.continent));
  country.continent ??= entry.continent;
  const continent = getOrAdd(agg.continents, entry.continent ?? UNKNOWN, () => emptyPlace(entry.continent));
  for (const place of [agg.total, country, continent]) {
    count(place.traffic);
    countStatus(place.status, entry.status);
    if (mirror !== undefined) {
      count(getOrAdd(place.byMirror, mirror, emptyTraffic));
      const region = entry.region ?? UNKNOWN;
      place.byRegion.set(region, (place.byRegion.get(region) ?? 0) + 1);
    }
  }

  agg.latency.add(entry.ms);
  getOrAdd(agg.latencyByRoute, routeType(entry.path), () => new LatencyHistogram()).add(entry.ms);
  if (mirror !== undefined) getOrAdd(agg.latencyByMirror, mirror, () => new LatencyHistogram()).add(entry.ms);
}

function countStatus(status: StatusCounts, code: number): void {
  if (code >= 200 && code < 300) status['2xx']++;
  else if (code >= 300 && code < 400) status['3xx']++;
  else if (code >= 400 && code < 500) status['4xx']++;
  else if (code >= 500) {
    status['5xx']++;
    if (code === 503) status['503']++;
  }
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
