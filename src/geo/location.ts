// Where a client is, as far as the routing decision cares: its address, country, continent and
// cloud region. Computed once per request from immutable data.
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
