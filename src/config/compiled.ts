// The immutable, pre-indexed form of a config that the routing decision reads. Everything that
// can be worked out once (URLs parsed, regions indexed, routes sorted) is, so a request does
// only lookups. A reload builds a new one and swaps it in one assignment.
import type { CompiledGeoDns } from '../dns/redirectors.js';
import type { CidrTrie } from '../geo/cidr-trie.js';
import type { GeoData } from '../geo/location.js';
import type { CompiledTrust } from '../trust/config.js';
import type { CandidateMemo } from '../mirrors/candidates.js';

export interface CompiledMirror {
  name: string;
  /** `blobs`: a bucket or CDN serving an OCI route's blobs by digest (src/mirrors/blob-url.ts). */
  kind: 'binary' | 'registry' | 'blobs';
  /** Base URL without a trailing slash: a bucket path, or a registry's scheme://host[:port]. */
  base: string;
  /** Registries: repository prefix (no slashes at either end), '' for none. */
  repository: string;
  /** Blob mirrors: the path of a blob below the base, with `{digest}`, `{algorithm}`, `{hex}` (no leading slash). */
  layout?: string;
  /** Where the prober looks, when probing is configured. */
  probe?: { url: string; intervalMs: number; timeoutMs: number; rise: number; fall: number };
  /** IP versions the mirror serves clients on; undefined = both. */
  ipVersions?: ReadonlySet<4 | 6>;
  /** Share of the load within a tier; 1 unless configured. */
  weight: number;
}

/** Mirrors for one region of a route, in preference order. */
export interface RegionMirrors {
  /** The region as written in the config, for headers and explain. */
  region: string;
  /** Every mirror of the region, tiers flattened in order. */
  mirrors: readonly CompiledMirror[];
  /** Preference tiers: each tier is tried before the next; members of a tier share the load by weight. */
  tiers: readonly (readonly CompiledMirror[])[];
}

export interface CompiledRoute {
  /** As written, normalised: no trailing slash ('/' for the root). */
  prefix: string;
  type: 'binary' | 'oci';
  /** OCI routes: the repository-name prefix this route serves ('' = every name). */
  namePrefix: string;
  /** Short-form routes keep the whole request path; long-form routes strip the prefix. */
  keepPrefix: boolean;
  cidrs: CidrTrie<RegionMirrors>;
  cloudRegions: ReadonlyMap<string, RegionMirrors>;
  cloudProviders: ReadonlyMap<string, RegionMirrors>;
  countries: ReadonlyMap<string, RegionMirrors>;
  /** Continent entries, narrowest first (NA before Americas). */
  continents: readonly { codes: ReadonlySet<string>; entry: RegionMirrors }[];
  default: RegionMirrors;
  origin?: CompiledMirror;
  whenAllDown: 'default' | 'unavailable';
  /** 'latency': within a region, mirrors with lower probe latency first. */
  order: 'listed' | 'latency';
  /** sha256 of files by their path below the route prefix, from the route's checksum manifests. */
  checksums: ReadonlyMap<string, string>;
  /**
   * Candidate lists already built for this route, by the regions a client matched
   * (src/mirrors/candidates.ts): a cache derived from the fields above, owned by the route so
   * that it is dropped with the config it belongs to.
   */
  candidateMemo: CandidateMemo;
}

export interface CompiledConfig {
  file: string;
  /** Other files the config was built from (checksum manifests): a change to one reloads it too. */
  dependencies?: readonly string[];
  loadedAt: Date;
  /** Binary routes, longest prefix first. */
  binaryRoutes: readonly CompiledRoute[];
  /** OCI routes, longest name prefix first. */
  ociRoutes: readonly CompiledRoute[];
  mirrors: ReadonlyMap<string, CompiledMirror>;
  trustedProxies: CidrTrie<true>;
  /** Registry names answered for as a mirror (?ns=); empty = any. */
  namespaces: ReadonlySet<string>;
  geo: GeoData;
  /** Manifest rate limits per client; undefined = off. */
  rateLimit?: CompiledRateLimit;
  checkTimeoutMs: number;
  health: {
    breakerThreshold: number;
    availability: { maxEntries: number; maxBytes: number; verifyMs: number; presentMs: number; tagMs: number; absentMs: number; errorMs: number; staleMs: number };
  };
  /** Bearer token for POST /-/purge from other than loopback; undefined = loopback only. Never logged. */
  adminToken?: string;
  /** GeoDNS: the public name and the regional redirectors, when the config has dns: and redirectors:. */
  geoDns?: CompiledGeoDns;
  /** Mirror trust (src/trust/): expected content sources, ownership key, audit pace. */
  trust?: CompiledTrust;
}

export interface CompiledRateLimit {
  perMinute: number;
  burst: number;
  /** Clients never limited. */
  allow: CidrTrie<true>;
  maxClients: number;
}
