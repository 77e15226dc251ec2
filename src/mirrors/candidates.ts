// The mirrors that may serve a client on a route, best first: the most specific region the
// client is in, then each wider one, then the route's default, then its origin (the canonical
// store, which holds everything). A mirror listed in several regions appears once, at its best.
import type { CompiledMirror, CompiledRoute, RegionMirrors } from '../config/compiled.js';
import type { ClientLocation } from '../geo/location.js';

export interface Candidate {
  mirror: CompiledMirror;
  /** The region (as written in the config) that put this mirror on the list, or 'origin'. */
  region: string;
}

function matchingRegions(route: CompiledRoute, client: ClientLocation): RegionMirrors[] {
  const regions: RegionMirrors[] = [];
  const cidr = route.cidrs.lookup(client.ip);
  if (cidr) regions.push(cidr.value);
  if (client.cloud) {
    const cloud = route.cloudRegions.get(client.cloud);
    if (cloud) regions.push(cloud);
    const provider = route.cloudProviders.get(client.cloud.slice(0, client.cloud.indexOf(':')));
    if (provider) regions.push(provider);
  }
  if (client.country) {
    const country = route.countries.get(client.country);
    if (country) regions.push(country);
  }
  if (client.continent) {
    for (const continent of route.continents) if (continent.codes.has(client.continent)) regions.push(continent.entry);
  }
  regions.push(route.default);
  return regions;
}

/**
 * The candidate list for a client, best first; with `withBuckets` false, without blob buckets
 * (`blobs:` mirrors serve blob requests only). Lists are memoised in the route's own
 * CandidateMemo by the regions the client matched (most clients of a route match one of a few
 * combinations), except where a tier of several mirrors orders them per client (spreadByWeight).
 * The memo is derived from the route alone, which a compiled config never changes, and lives and
 * dies with it: the answer is what building the list gives, only without the objects and scans
 * per request. Callers must not change the list.
 */
export function candidatesFor(route: CompiledRoute, client: ClientLocation, withBuckets = true): readonly Candidate[] {
  const regions = matchingRegions(route, client);
  let node: MemoNode = route.candidateMemo;
  for (const region of regions) {
    let next = node.next.get(region);
    if (!next) {
      next = { next: new Map() };
      node.next.set(region, next);
    }
    node = next;
  }
  if (node.list) {
    if (withBuckets) return node.list;
    node.bucketless ??= withoutBuckets(node.list);
    return node.bucketless;
  }
  const candidates: Candidate[] = [];
  let perClient = false;
  for (const region of regions) {
    for (const tier of region.tiers) {
      if (tier.length === 1) addOnce(candidates, tier[0]!, region.region);
      else {
        perClient = true;
        for (const mirror of spreadByWeight(tier, client.ip.text)) addOnce(candidates, mirror, region.region);
      }
    }
  }
  if (route.origin) addOnce(candidates, route.origin, 'origin');
  if (!perClient) node.list = candidates;
  return withBuckets ? candidates : withoutBuckets(candidates);
}

function withoutBuckets(candidates: readonly Candidate[]): readonly Candidate[] {
  return candidates.some((c) => c.mirror.kind === 'blobs') ? candidates.filter((c) => c.mirror.kind !== 'blobs') : candidates;
}

interface MemoNode {
  next: Map<RegionMirrors, MemoNode>;
  list?: readonly Candidate[];
  /** The list without blob buckets, made on first ask. */
  bucketless?: readonly Candidate[];
}

/**
 * A route's memo of candidate lists: a trie of matched regions, in order, to their list. Made by
 * compile with the route (CompiledRoute.candidateMemo), so it goes when a reload replaces the
 * config, and nothing outside the compiled config holds state.
 */
export type CandidateMemo = MemoNode;

export function newCandidateMemo(): CandidateMemo {
  return { next: new Map() };
}

/** Lists are a handful of mirrors: a scan is cheaper than a Set per request. */
function addOnce(candidates: Candidate[], mirror: CompiledMirror, region: string): void {
  for (const candidate of candidates) if (candidate.mirror === mirror) return;
  candidates.push({ mirror, region });
}

/**
 * Orders a tier of equal-preference mirrors for one client by weighted rendezvous hashing: each
 * mirror gets a share of clients proportional to its weight, a client keeps its mirror across
 * requests (the layers of one pull come from one place), and adding or removing a mirror moves
 * only that mirror's share. Deterministic, so the decision stays a pure function.
 */
export function spreadByWeight(tier: readonly CompiledMirror[], clientKey: string): CompiledMirror[] {
  return tier
    .map((mirror) => ({ mirror, score: -mirror.weight / Math.log(unitHash(`${clientKey}|${mirror.name}`)) }))
    .sort((a, b) => b.score - a.score)
    .map((entry) => entry.mirror);
}

/** FNV-1a, mapped into (0, 1). */
function unitHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Mix the low bits up: FNV's low bits are weak for short keys that differ at the end.
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  return ((hash >>> 0) + 1) / 4294967297;
}

/**
 * Reorders each region's mirrors by probe latency, fastest first, keeping regions (and the
 * origin) where they are: a wider region never jumps ahead of a narrower one. Mirrors without a
 * latency yet keep their listed order after those with one.
 */
export function byLatencyWithinRegions(candidates: readonly Candidate[], latencyOf: (mirror: string) => number | undefined): Candidate[] {
  const ordered: Candidate[] = [];
  for (let start = 0; start < candidates.length; ) {
    let end = start + 1;
    while (end < candidates.length && candidates[end]!.region === candidates[start]!.region) end++;
    const group = candidates.slice(start, end).map((c, i) => ({ c, i, latency: latencyOf(c.mirror.name) ?? Infinity }));
    group.sort((a, b) => a.latency - b.latency || a.i - b.i);
    for (const { c } of group) ordered.push(c);
    start = end;
  }
  return ordered;
}
