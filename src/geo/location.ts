// Where a client is, as far as the routing decision cares: its address, country, continent and
// cloud region. A pure function of the address and the config's (immutable) geo data; the
// server memoises it in a LocationCache of its own.
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
}

/**
 * Locations already worked out, by address, owned by whoever serves many requests (the server).
 * A pull is many requests from one client, so most lookups repeat. An answer holds only for the
 * geo data it came from: given another (a reloaded config), the memo starts over.
 */
export class LocationCache {
  private readonly memo: LRUCache<string, ClientLocation>;
  private geo: GeoData | undefined;

  constructor(max = 65_536) {
    this.memo = new LRUCache<string, ClientLocation>({ max });
  }

  get size(): number {
    return this.memo.size;
  }

  locate(ip: ParsedIp, geo: GeoData): ClientLocation {
    if (geo !== this.geo) {
      this.memo.clear();
      this.geo = geo;
    }
    const known = this.memo.get(ip.text);
    if (known) return known;
    const location = locateClient(ip, geo);
    this.memo.set(ip.text, location);
    return location;
  }
}

export function locateClient(ip: ParsedIp, geo: GeoData): ClientLocation {
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
