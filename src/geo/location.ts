// Where a client is, as far as the routing decision cares: its address, country, continent and
// cloud region. Computed once per request from immutable data.
import { LRUCache } from 'lru-cache';
import type { CloudIndex } from './cloud-ranges.js';
import type { GeoIpDatabase } from './geoip.js';
import type { ParsedIp } from './ip.js';
import { continentOf } from './regions.js';

export interface ClientLocation {
  ip: ParsedIp;
  country?: string;
  continent?: string;
  /** `provider:region`, when the address is in a cloud provider's published ranges. */
  cloud?: string;
}

export interface GeoData {
  geoip: GeoIpDatabase;
  cloud: CloudIndex;
  /**
   * Locations already worked out, by address. A pull is many requests from one client, so
   * most lookups repeat; the answer is a pure function of the address and this (immutable)
   * data, so the memo lives and dies with it.
   */
  memo: LRUCache<string, ClientLocation>;
}

export function createLocationMemo(max = 65_536): LRUCache<string, ClientLocation> {
  return new LRUCache<string, ClientLocation>({ max });
}

export function locateClient(ip: ParsedIp, geo: GeoData): ClientLocation {
  const known = geo.memo.get(ip.text);
  if (known) return known;
  const location = lookUp(ip, geo);
  geo.memo.set(ip.text, location);
  return location;
}

function lookUp(ip: ParsedIp, geo: GeoData): ClientLocation {
  const country = geo.geoip.country(ip.text);
  const location: ClientLocation = { ip };
  if (country) {
    location.country = country;
    const continent = continentOf(country);
    if (continent) location.continent = continent;
  }
  const cloud = geo.cloud.trie.lookup(ip);
  if (cloud) location.cloud = cloud.value;
  return location;
}
