// The shape of a redirector config file. Structure only: meaning (do the mirrors exist, are the
// regions real, are prefixes unique) is checked by compile.ts, which knows positions too.
import { z } from 'zod';

/** An http(s) URL a redirect may point into: no query, fragment, credentials or spaces. */
export function isPlainHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '' && !url.search && !url.hash && !url.username && !url.password && !/\s/.test(text);
  } catch {
    return false;
  }
}

const httpUrl = z.string().refine(isPlainHttpUrl, 'must be an http(s) URL with no query, fragment or credentials');

const mirrorName = z.string().min(1);
/** A name, or a list in preference order; a list inside the list is one tier that shares the load by weight. */
const mirrorNames = z.union([mirrorName, z.array(z.union([mirrorName, z.array(mirrorName).min(1)])).min(1)]);

const probeSchema = z.strictObject({
  /** Path probed on the mirror; registries default to /v2/, buckets must say (there is no universal one). */
  path: z.string().startsWith('/').optional(),
  intervalSeconds: z.number().positive().max(3600).optional(),
  timeoutMs: z.number().int().positive().max(60_000).optional(),
  rise: z.number().int().min(1).max(100).optional(),
  fall: z.number().int().min(1).max(100).optional(),
});

/** What every kind of mirror may say besides where it is. */
const mirrorCommon = {
  /** Share of the load within a tier of mirrors (`[[a, b]]`); default 1. */
  weight: z.number().positive().max(1000).optional(),
  probe: z.union([probeSchema, z.literal(false)]).optional(),
  ipVersions: z
    .array(z.union([z.literal(4), z.literal(6)]))
    .min(1)
    .optional(),
};

export const mirrorSchema = z.union([
  z.strictObject({
    /** Base URL of a bucket or web server holding binaries; the path after the route prefix is appended. */
    url: httpUrl,
    ...mirrorCommon,
  }),
  z.strictObject({
    /** An OCI registry: scheme and host (and port). */
    registry: httpUrl,
    /** Prepended to every repository name, e.g. `k8s-artifacts-prod/images`. */
    repository: z.string().optional(),
    ...mirrorCommon,
  }),
  z.strictObject({
    /**
     * A bucket or CDN holding blobs by digest (OCI routes only): used for `blobs/` requests,
     * while manifests, tags and referrers go to the route's registries.
     */
    blobs: httpUrl,
    /** Where a blob lives below the base: `{digest}` (sha256:<hex>), `{algorithm}`, `{hex}`. */
    layout: z
      .string()
      .min(1)
      .refine((l) => /\{(digest|hex)\}/.test(l) && !/[{}]/.test(l.replace(/\{(digest|algorithm|hex)\}/g, '')), 'a layout names the blob with {digest} or {hex} (and may use {algorithm}); no other {placeholders}')
      .refine((l) => !/[?#\s]/.test(l) && !l.split('/').some((s) => s === '..' || s === '.'), 'a layout is a path: no ?, #, spaces, . or .. segments')
      .optional(),
    ...mirrorCommon,
  }),
]);

export const routeSchema = z.strictObject({
  prefix: z.string().startsWith('/', 'a route prefix starts with /'),
  /** `oci` for /v2/ registry routes, `binary` for files; inferred from the prefix when absent. */
  type: z.enum(['binary', 'oci']).optional(),
  /** Region name -> mirror name or ordered list of mirror names (first is preferred). */
  regions: z.record(z.string(), mirrorNames).optional(),
  default: mirrorNames,
  /** kpromo-style file manifests (`files: [{name, sha256}]`) naming this route's files, for Metalink hashes. */
  checksums: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  /** The canonical store that holds everything; the last resort when no mirror can serve. */
  origin: z.string().min(1).optional(),
  /** Within a region: mirrors in the listed order (and weight), or the fastest by probe latency first. */
  order: z.enum(['listed', 'latency']).optional(),
  /** What to do when every mirror is down: send the client to the default anyway, or answer 503. */
  whenAllDown: z.enum(['default', 'unavailable']).optional(),
});

// --- GeoDNS: the public name and the regional redirectors behind it (src/dns/) ---------------
const dnsName = z
  .string()
  .transform((s) => s.replace(/\.$/, '').toLowerCase())
  .refine(
    (s) => s.length <= 253 && s.split('.').length >= 2 && s.split('.').every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)),
    'must be a DNS name like artifacts.example (letters, digits, -, at least two labels)',
  );

export const dnsSchema = z.strictObject({
  /** The one public name clients use, e.g. artifacts.example. */
  name: dnsName,
  /** The zone the records go in; the name itself by default (a delegated subdomain). */
  zone: dnsName.optional(),
  /** TTL of the GeoDNS answers: short, so a region taken out drains quickly. */
  ttl: z.number().int().min(1).max(86_400).optional(),
  /** The zone's name servers (SOA and NS of the PowerDNS zone); ns1.<zone> by default. */
  nameservers: z.array(dnsName).min(1).optional(),
});

export const redirectorSchema = z.strictObject({
  /** The redirector's own regional name (europe.artifacts.example). */
  host: dnsName,
  /** Its public IPv4 and IPv6 addresses (A and AAAA records). */
  addresses: z.array(z.string()).min(1),
  /** Regions it answers for, named as in routes: continents, continent groups, countries. */
  regions: z.array(z.string().min(1)).optional(),
  /** The redirector for clients no region matches: exactly one has it. */
  default: z.boolean().optional(),
});

export const configSchema = z.strictObject({
  /** Proxies whose X-Forwarded-For is believed (CIDRs). Nobody else's is. */
  trustedProxies: z.array(z.string()).optional(),
  geoip: z.strictObject({ database: z.string().min(1) }).optional(),
  cloudRanges: z.strictObject({ aws: z.string().min(1).optional(), gcp: z.string().min(1).optional(), azure: z.string().min(1).optional() }).optional(),
  registry: z
    .strictObject({
      /** The registry names this redirector answers for as a mirror (containerd's ?ns=); empty = any. */
      namespaces: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  health: z
    .strictObject({
      /** How long a request may wait for an availability check before falling back to the origin. */
      checkTimeoutMs: z.number().int().positive().max(10_000).optional(),
      /** Consecutive failed availability checks that take a mirror out until probes bring it back. */
      breakerThreshold: z.number().int().min(1).max(1000).optional(),
      /** The availability cache (read at start; a change needs a restart). */
      availability: z
        .strictObject({
          maxEntries: z.number().int().min(100).optional(),
          maxMegabytes: z.number().positive().optional(),
          /**
           * The oldest a "found" answer may be and still be used: past it, the object is checked
           * again before anyone is sent there. A mirror that loses an object gets no client for it
           * after this long. presentSeconds, tagSeconds and staleSeconds work within it.
           */
          verifySeconds: z.number().positive().max(86_400).optional(),
          /** Found, immutable (blobs, manifests by digest, release files): no re-check this long. */
          presentSeconds: z.number().positive().optional(),
          /** Found, manifest by tag: tags move. */
          tagSeconds: z.number().positive().optional(),
          absentSeconds: z.number().positive().optional(),
          errorSeconds: z.number().positive().optional(),
          /** How long an expired immutable answer may still be used while it is refreshed. */
          staleSeconds: z.number().min(0).optional(),
        })
        .optional(),
    })
    .optional(),
  /** The operator endpoints that change state (POST /-/purge): allowed from loopback, or with this bearer token. */
  admin: z
    .strictObject({
      /** The bearer token itself (at least 16 characters); prefer tokenEnv, keeping it out of the file. */
      token: z.string().min(16, 'an admin token has at least 16 characters').optional(),
      /** The name of an environment variable holding the token, read at each (re)load. */
      tokenEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name: letters, digits, _')
        .optional(),
    })
    .optional(),
  /**
   * Pull-aware rate limits, off unless given: manifest GETs (what a pull is made of; blobs and
   * ranges are cheap redirects and never counted) per client IPv4 address or IPv6 /64.
   */
  rateLimit: z
    .strictObject({
      /** Manifest GETs a client may make per minute, on average. */
      manifestsPerMinute: z.number().int().min(1).max(1_000_000),
      /** How many it may make at once after being idle; default manifestsPerMinute. */
      burst: z.number().int().min(1).max(1_000_000).optional(),
      /** Clients never limited (CIDRs): your own networks, CI behind NAT. */
      allow: z.array(z.string()).optional(),
      /** Clients tracked at once (the least recently seen are forgotten); default 100000. */
      maxClients: z.number().int().min(100).max(10_000_000).optional(),
    })
    .optional(),
  /** Mirror trust (issue 9): what production must hold, who owns each mirror, the audit. See src/trust/. */
  trust: z
    .strictObject({
      /** Per route: where the promoted content comes from (promoter manifests, ledgers), read at start and on reload. */
      expected: z
        .array(
          z.strictObject({
            /** The route's prefix, as written under routes:. */
            route: z.string().startsWith('/', 'a route prefix starts with /'),
            /** kpromo manifests: a directory (any layout `promote` reads) or one manifest file. */
            manifests: z.string().min(1).optional(),
            /** Ledger JSON files the promoter wrote (a directory of them, or one file). */
            ledgers: z.string().min(1).optional(),
            /** Registry path before the client's repository names in promoter destinations (k8s-artifacts-prod/images); default the origin's repository. */
            root: z.string().optional(),
          }),
        )
        .optional(),
      /** A docker config.json (auths, credHelpers, credsStore) for audit requests to registry mirrors that want credentials; read at start and on reload. */
      credentials: z.string().min(1).optional(),
      /** The ownership token each mirror must hold: HMAC-SHA256 of its destination with this key. */
      ownership: z
        .strictObject({
          key: z.string().min(16, 'an ownership key has at least 16 characters').optional(),
          keyEnv: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name: letters, digits, _')
            .optional(),
          /** File mirrors and blob buckets: the promoter destination each one is (s3://bucket[/prefix], gs://..., file:///path or a path); registries derive it. */
          destinations: z.record(z.string(), z.string().min(1)).optional(),
        })
        .optional(),
      audit: z
        .strictObject({
          /** serve: start a full audit cycle at most this often (0 or absent: no background audit). */
          intervalSeconds: z
            .number()
            .min(0)
            .max(86_400 * 7)
            .optional(),
          /** The most requests the audit sends per second (all mirrors together). */
          requestsPerSecond: z.number().positive().max(10_000).optional(),
          /** Bytes downloaded and hashed per mirror per pass, from a sample of blobs and files. */
          sampleBytes: z.number().int().min(0).optional(),
          /** serve: the audit applies its findings every this many seconds (a slice), not at the end of a cycle. */
          sliceSeconds: z.number().positive().max(3600).optional(),
        })
        .optional(),
    })
    .optional(),
  mirrors: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'mirror names are letters, digits, _ . -'), mirrorSchema).optional(),
  routes: z.array(routeSchema).optional(),
  /** GeoDNS in front of regional redirectors (`artifact-serving dns`, `client-config`). */
  dns: dnsSchema.optional(),
  redirectors: z.record(z.string(), redirectorSchema).optional(),
});

/** The design sketch's short form: `/kops: [{Americas: host}, {default: host}]`, a bare host being https://host. */
export const shortRouteSchema = z.array(z.record(z.string(), z.string().min(1)).refine((entry) => Object.keys(entry).length === 1, 'each entry is one `region: host` pair')).min(1);

export type ConfigInput = z.infer<typeof configSchema>;
export type MirrorInput = z.infer<typeof mirrorSchema>;
export type RouteInput = z.infer<typeof routeSchema>;
export type DnsInput = z.infer<typeof dnsSchema>;
export type RedirectorInput = z.infer<typeof redirectorSchema>;
