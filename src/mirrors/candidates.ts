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

export function candidatesFor(route: CompiledRoute, client: ClientLocation): Candidate[] {
  const candidates: Candidate[] = [];
  for (const region of matchingRegions(route, client)) {
    for (const tier of region.tiers) {
      if (tier.length === 1) addOnce(candidates, tier[0]!, region.region);
      else for (const mirror of spreadByWeight(tier, client.ip.text)) addOnce(candidates, mirror, region.region);
    }
  }
  if (route.origin) addOnce(candidates, route.origin, 'origin');
  return candidates;
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
export function byLatencyWithinRegions(candidates: Candidate[], latencyOf: (mirror: string) => number | undefined): Candidate[] {
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
