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

export function matchingRegions(route: CompiledRoute, client: ClientLocation): RegionMirrors[] {
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
    for (const mirror of region.mirrors) addOnce(candidates, mirror, region.region);
  }
  if (route.origin) addOnce(candidates, route.origin, 'origin');
  return candidates;
}

/** Lists are a handful of mirrors: a scan is cheaper than a Set per request. */
function addOnce(candidates: Candidate[], mirror: CompiledMirror, region: string): void {
  for (const candidate of candidates) if (candidate.mirror === mirror) return;
  candidates.push({ mirror, region });
}
