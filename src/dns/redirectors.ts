// The GeoDNS part of a config: the one public name and the regional redirectors behind it.
// Checked here with positions (compile.ts calls this), so `validate` and `serve` report its
// problems like any other, and the `dns` and `client-config` commands read a compiled form.
import { continents as CONTINENT_NAMES, countries as COUNTRY_INFO } from 'countries-list';
import { parseIp } from '../geo/ip.js';
import { parseRegion } from '../geo/regions.js';
import type { DnsInput, RedirectorInput } from '../config/schema.js';

export interface CompiledRedirector {
  name: string;
  /** Its own regional name, lowercase, no trailing dot. */
  host: string;
  ipv4: readonly string[];
  ipv6: readonly string[];
  /** Continent codes (EU, AF, ...) it answers for. */
  continents: readonly string[];
  /** ISO country codes it answers for (more specific than any continent). */
  countries: readonly string[];
  isDefault: boolean;
}

export interface CompiledGeoDns {
  name: string;
  zone: string;
  ttl: number;
  nameservers: readonly string[];
  /** In config order. */
  redirectors: readonly CompiledRedirector[];
  defaultRedirector: CompiledRedirector;
}

const DEFAULT_DNS_TTL = 60;

type Report = (path: readonly PropertyKey[], message: string, at?: 'key' | 'value') => void;

/** Within `zone` (or the zone itself)? Both lowercase without a trailing dot. */
function isWithin(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

export function compileGeoDns(dns: DnsInput | undefined, redirectors: Record<string, RedirectorInput> | undefined, report: Report): CompiledGeoDns | undefined {
  if (!dns && !redirectors) return undefined;
  if (!dns) {
    report(['redirectors'], 'redirectors: needs a dns: section naming the public name (dns: { name: artifacts.example })', 'key');
    return undefined;
  }
  if (!redirectors || Object.keys(redirectors).length === 0) {
    report(['dns'], 'dns: needs a redirectors: section with at least one redirector', 'key');
    return undefined;
  }
  const zone = dns.zone ?? dns.name;
  let ok = true;
  const fail: Report = (path, message, at) => {
    ok = false;
    report(path, message, at);
  };
  if (!isWithin(dns.name, zone)) fail(['dns', 'name'], `"${dns.name}" is not within the zone "${zone}"`);

  /** Who already claimed a continent or country, for duplicate errors. */
  const claimed = new Map<string, string>();
  const compiled: CompiledRedirector[] = [];
  const defaults: string[] = [];
  for (const [name, input] of Object.entries(redirectors)) {
    const at = ['redirectors', name];
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) fail(at, `redirector name "${name}": use lowercase letters, digits and - (it names pools and records)`, 'key');
    if (!isWithin(input.host, zone)) fail([...at, 'host'], `"${input.host}" is not within the zone "${zone}": the records for it go in that zone`);
    if (input.host === dns.name) fail([...at, 'host'], `"${input.host}" is the public name itself: give each redirector a regional name of its own`);
    const ipv4: string[] = [];
    const ipv6: string[] = [];
    let badAddress = false;
    input.addresses.forEach((text, i) => {
      const ip = /^[0-9a-fA-F:.]+$/.test(text) ? parseIp(text) : undefined;
      if (!ip || ip.text !== text.toLowerCase()) {
        badAddress = true;
        fail([...at, 'addresses', i], `"${text}" is not an IPv4 or IPv6 address`);
        return;
      }
      const list = ip.version === 4 ? ipv4 : ipv6;
      if (list.includes(ip.text)) fail([...at, 'addresses', i], `"${text}" is listed twice`);
      else list.push(ip.text);
    });
    if (ipv4.length === 0 && !badAddress) fail([...at, 'addresses'], 'needs an IPv4 address: most clients can reach it over IPv4 only');
    const continents: string[] = [];
    const countries: string[] = [];
    (input.regions ?? []).forEach((key, i) => {
      const where = [...at, 'regions', i];
      const parsed = parseRegion(key);
      if (!parsed.ok) {
        fail(where, parsed.message);
        return;
      }
      const selector = parsed.selector;
      if (selector.kind === 'default') {
        fail(where, 'write default: true on the redirector instead of a "default" region');
        return;
      }
      if (selector.kind !== 'continent' && selector.kind !== 'country') {
        fail(
          where,
          `"${key}": GeoDNS answers by continent or country only (it sees the resolver, not the client's own address or cloud); route ${selector.kind === 'cidr' ? 'networks' : 'cloud regions'} in routes: instead`,
        );
        return;
      }
      const codes = selector.kind === 'continent' ? selector.continents : [selector.country];
      for (const code of codes) {
        const id = `${selector.kind} ${code}`;
        const owner = claimed.get(id);
        const label = selector.kind === 'continent' ? `continent ${code} (${CONTINENT_NAMES[code as keyof typeof CONTINENT_NAMES]})` : `country ${code} (${COUNTRY_INFO[code as keyof typeof COUNTRY_INFO].name})`;
        if (owner) {
          fail(where, `${label} is already answered by redirector "${owner}"`);
          continue;
        }
        claimed.set(id, name);
        (selector.kind === 'continent' ? continents : countries).push(code);
      }
    });
    if (input.default) defaults.push(name);
    compiled.push({ name, host: input.host, ipv4, ipv6, continents, countries, isDefault: input.default === true });
  }
  if (defaults.length === 0) fail(['redirectors'], 'no redirector has default: true: exactly one must answer the clients no region matches', 'key');
  for (const extra of defaults.slice(1)) fail(['redirectors', extra, 'default'], `redirector "${extra}" has default: true, but "${defaults[0]}" already has it: exactly one may`);
  const hosts = new Map<string, string>();
  for (const r of compiled) {
    const other = hosts.get(r.host);
    if (other) fail(['redirectors', r.name, 'host'], `"${r.host}" is already the host of redirector "${other}"`);
    hosts.set(r.host, r.name);
  }
  if (!ok) return undefined;
  return {
    name: dns.name,
    zone,
    ttl: dns.ttl ?? DEFAULT_DNS_TTL,
    nameservers: dns.nameservers ?? [`ns1.${zone}`],
    redirectors: compiled,
    defaultRedirector: compiled.find((r) => r.isDefault)!,
  };
}
