// Where a client is, as far as the routing decision cares: its address, country, continent and
// cloud region. A pure function of the address and the config's (immutable) geo data; the
// server memoises it in a LocationCache of its own.
import type { CidrTrie } from './cidr-trie.js';
import { resolveClientIp } from './client-ip.js';
import type { CloudIndex } from './cloud-ranges.js';
import type { GeoIpDatabase } from './geoip.js';
import { parseIp, type ParsedIp } from './ip.js';
import { continentOf } from './regions.js';
import { TwoGenerationMemo } from './two-generation-memo.js';

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
  private readonly memo: TwoGenerationMemo<string, ClientLocation>;
  /**
   * By the request's own text: X-Forwarded-For (or the peer address, without one), with the peer
   * it came from checked on a hit. A repeat skips parsing too, and no key is joined per request.
   */
  private readonly byRequest: TwoGenerationMemo<string, RequestMemo>;
  private geo: GeoData | undefined;
  private trustedProxies: CidrTrie<true> | undefined;

  constructor(max = 65_536) {
    this.memo = new TwoGenerationMemo<string, ClientLocation>(max);
    this.byRequest = new TwoGenerationMemo<string, RequestMemo>(max);
  }

  /** Locations held, in both memos. */
  get size(): number {
    return this.memo.size + this.byRequest.size;
  }

  locate(ip: ParsedIp, geo: GeoData): ClientLocation {
    this.startOverUnless(geo);
    const known = this.memo.get(ip.text);
    if (known) return known;
    const location = locateClient(ip, geo);
    this.memo.set(ip.text, location);
    return location;
  }

  /** Answers hold only for the geo data they came from: given another, both memos start over. */
  private startOverUnless(geo: GeoData): void {
    if (geo === this.geo) return;
    this.memo.clear();
    this.byRequest.clear();
    this.geo = geo;
  }

  /**
   * The client a request comes from (resolveClientIp: trusted proxies' X-Forwarded-For), located.
   * Parsing the addresses and walking the proxy list cost more than the lookup itself, so the
   * answer is also memoised by the two header texts, when they are short enough that a client
   * cannot fill the memo with long junk.
   */
  locateRequest(peer: string, forwardedFor: string | undefined, trustedProxies: CidrTrie<true>, geo: GeoData): ClientLocation {
    if (trustedProxies !== this.trustedProxies) {
      this.byRequest.clear();
      this.trustedProxies = trustedProxies;
    }
    // Keyed by the header's text as received (its hash is computed once, on this lookup), with
    // the peer and the text compared on a hit: the peer decides whether the header is believed.
    // Only when another peer sent the same text first (several proxies forward one client) is
    // a key joined from both.
    const plain = forwardedFor ?? peer;
    if (peer.length + plain.length > MAX_REQUEST_KEY) {
      this.startOverUnless(geo);
      return locateClient(resolveClientIp(peer, forwardedFor, trustedProxies) ?? UNKNOWN_ADDRESS, geo);
    }
    let key = plain;
    if (geo === this.geo) {
      const known = this.byRequest.get(plain);
      if (known) {
        if (known.peer === peer && known.forwardedFor === forwardedFor) return known.location;
        key = `${peer}\u0000${plain}`;
        const joined = this.byRequest.get(key);
        if (joined && joined.peer === peer && joined.forwardedFor === forwardedFor) return joined.location;
      }
    }
    this.startOverUnless(geo);
    // Not through the address memo as well: a new client would pay for two memo writes.
    const location = locateClient(resolveClientIp(peer, forwardedFor, trustedProxies) ?? UNKNOWN_ADDRESS, geo);
    this.byRequest.set(key, { peer, forwardedFor, location });
    return location;
  }
}

/** A located request: the texts it was located from, compared on a hit, and where it is. */
interface RequestMemo {
  peer: string;
  forwardedFor: string | undefined;
  location: ClientLocation;
}

/** Longest peer-and-X-Forwarded-For text memoised: a few proxy hops of IPv6 addresses. */
const MAX_REQUEST_KEY = 200;
/** Stands in for a peer address that does not parse (it cannot happen on a real socket). */
export const UNKNOWN_ADDRESS = parseIp('0.0.0.0')!;

/** Where a request's client is, without a memo: resolveClientIp, then locateClient. */
export function locateRequestClient(peer: string, forwardedFor: string | undefined, trustedProxies: CidrTrie<true>, geo: GeoData): ClientLocation {
  return locateClient(resolveClientIp(peer, forwardedFor, trustedProxies) ?? UNKNOWN_ADDRESS, geo);
}

export function locateClient(ip: ParsedIp, geo: GeoData): ClientLocation {
  const country = geo.geoip.country(ip);
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
