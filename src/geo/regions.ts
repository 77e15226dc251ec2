// The region names a config may use. Most specific wins (matchingRegions in
// src/mirrors/candidates.ts applies this order):
// client CIDR > cloud region > cloud provider > country > continent > continent group > default.
import { continents, countries } from 'countries-list';
import { parseCidr, type ParsedCidr } from './cidr-trie.js';
import { CLOUD_PROVIDERS } from './cloud-ranges.js';

export type RegionSelector =
  | { kind: 'default'; key: string }
  | { kind: 'cidr'; key: string; cidr: ParsedCidr }
  | { kind: 'cloud'; key: string; region: string }
  | { kind: 'cloud-provider'; key: string; provider: string }
  | { kind: 'country'; key: string; country: string }
  | { kind: 'continent'; key: string; continents: readonly string[] };

const CONTINENT_CODES = Object.keys(continents);

/** Names people write for continents and the usual groups of them. */
const CONTINENT_NAMES: Record<string, readonly string[]> = {
  africa: ['AF'],
  antarctica: ['AN'],
  asia: ['AS'],
  europe: ['EU'],
  northamerica: ['NA'],
  southamerica: ['SA'],
  oceania: ['OC'],
  americas: ['NA', 'SA'],
  // Asia-Pacific as cloud providers use it.
  apac: ['AS', 'OC'],
};

/** Two-letter codes that are both a continent and a country: the config must say which. */
const AMBIGUOUS = new Set(CONTINENT_CODES.filter((code) => code in countries));

export type RegionParse = { ok: true; selector: RegionSelector } | { ok: false; message: string };

export function parseRegion(raw: string): RegionParse {
  const key = raw.trim();
  if (key === 'default') return ok({ kind: 'default', key });
  if (key.includes('/')) {
    const cidr = parseCidr(key);
    if (!cidr) return fail(`"${key}" is not a valid CIDR (expected e.g. 10.0.0.0/8 or 2001:db8::/32)`);
    return ok({ kind: 'cidr', key, cidr });
  }
  const colon = key.indexOf(':');
  if (colon !== -1) {
    const scheme = key.slice(0, colon).toLowerCase();
    const value = key.slice(colon + 1);
    if (scheme === 'country') return country(key, value);
    if (scheme === 'continent') return continent(key, value);
    if ((CLOUD_PROVIDERS as readonly string[]).includes(scheme)) {
      if (value === '*') return ok({ kind: 'cloud-provider', key, provider: scheme });
      if (!/^[a-z0-9-]+$/i.test(value)) return fail(`"${key}": cloud region names are letters, digits and dashes`);
      return ok({ kind: 'cloud', key, region: `${scheme}:${value.toLowerCase()}` });
    }
    return fail(`"${key}": unknown region scheme "${scheme}" (use country:, continent:, ${CLOUD_PROVIDERS.map((p) => `${p}:`).join(', ')} or a CIDR)`);
  }
  const named = CONTINENT_NAMES[key.toLowerCase().replace(/[\s_-]/g, '')];
  if (named) return ok({ kind: 'continent', key, continents: named });
  if (/^[A-Za-z]{2}$/.test(key)) {
    const code = key.toUpperCase();
    if (AMBIGUOUS.has(code)) {
      return fail(`"${key}" is both a continent (${continents[code as keyof typeof continents]}) and a country (${countries[code as keyof typeof countries].name}): write continent:${code} or country:${code}`);
    }
    if (CONTINENT_CODES.includes(code)) return continent(key, code);
    return country(key, code);
  }
  return fail(`unknown region "${key}": use a continent (${CONTINENT_CODES.join(', ')}, Americas, Europe, ...), an ISO country code, a cloud region like aws:us-east-1, a CIDR, or default`);
}

function country(key: string, code: string): RegionParse {
  const upper = code.toUpperCase();
  if (!(upper in countries)) return fail(`"${key}": "${code}" is not an ISO 3166-1 alpha-2 country code`);
  return ok({ kind: 'country', key, country: upper });
}

function continent(key: string, code: string): RegionParse {
  const upper = code.toUpperCase();
  if (!CONTINENT_CODES.includes(upper)) return fail(`"${key}": "${code}" is not a continent code (${CONTINENT_CODES.join(', ')})`);
  return ok({ kind: 'continent', key, continents: [upper] });
}

export function continentOf(country: string | undefined): string | undefined {
  if (!country) return undefined;
  return countries[country as keyof typeof countries]?.continent;
}

const ok = (selector: RegionSelector): RegionParse => ({ ok: true, selector });
const fail = (message: string): RegionParse => ({ ok: false, message });
