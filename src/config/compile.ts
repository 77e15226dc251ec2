// Turns a structurally valid config into the indexed form the decision reads, and finds what
// the schema cannot: undefined or misused mirrors, unknown regions, duplicate prefixes, routes
// without a default. Every problem carries the position of the text that caused it.
import { compileGeoDns } from '../dns/redirectors.js';
import { CidrTrie } from '../geo/cidr-trie.js';
import type { GeoData } from '../geo/location.js';
import { parseRegion, type RegionSelector } from '../geo/regions.js';
import { DEFAULT_BLOB_LAYOUT } from '../mirrors/blob-url.js';
import { newCandidateMemo } from '../mirrors/candidates.js';
import type { CompiledConfig, CompiledMirror, CompiledRateLimit, CompiledRoute, RegionMirrors } from './compiled.js';
import { isPlainHttpUrl, type ConfigInput, type MirrorInput, type RouteInput } from './schema.js';
import { problemAt, sortProblems, type SourceProblem, type YamlSource } from './yaml-source.js';

const DEFAULT_CHECK_TIMEOUT_MS = 300;
const DEFAULT_PROBE = { intervalMs: 10_000, timeoutMs: 2_000, rise: 2, fall: 3 };

/** A short-form route as written: `/prefix: [{region: host}, ...]`. */
export interface ShortRoute {
  prefix: string;
  entries: Record<string, string>[];
}

interface MirrorRef {
  ref: string;
  path: PropertyKey[];
}

interface RouteSpec {
  prefix: string;
  type: 'binary' | 'oci';
  keepPrefix: boolean;
  /** Path of the route in the document, for positions. */
  path: PropertyKey[];
  /** region key -> mirror references with their document paths. */
  regions: { key: string; keyPath: PropertyKey[]; mirrors: MirrorRef[][] }[];
  defaultMirrors?: MirrorRef[][];
  origin?: { ref: string; path: PropertyKey[] };
  whenAllDown: 'default' | 'unavailable';
  order: 'listed' | 'latency';
  checksums: ReadonlyMap<string, string>;
}

export function compileConfig(
  source: YamlSource,
  input: ConfigInput,
  shortRoutes: ShortRoute[],
  geo: GeoData,
  /** sha256 by file path, per long-form route index (read by load.ts, which does the I/O). */
  routeChecksums: ReadonlyMap<number, ReadonlyMap<string, string>> = new Map(),
): { config?: CompiledConfig; problems: SourceProblem[] } {
  const problems: SourceProblem[] = [];
  const report = (path: readonly PropertyKey[], message: string, at: 'key' | 'value' = 'value') => problems.push(problemAt(source, path, message, at));

  const trustedProxies = new CidrTrie<true>();
  (input.trustedProxies ?? []).forEach((cidr, i) => {
    if (!trustedProxies.insert(cidr, true)) report(['trustedProxies', i], `"${cidr}" is not a valid CIDR or address`);
  });

  let rateLimit: CompiledRateLimit | undefined;
  if (input.rateLimit) {
    const { manifestsPerMinute, burst, allow: cidrs = [], maxClients } = input.rateLimit;
    const allow = new CidrTrie<true>();
    cidrs.forEach((cidr, i) => {
      if (!allow.insert(cidr, true)) report(['rateLimit', 'allow', i], `"${cidr}" is not a valid CIDR or address`);
    });
    rateLimit = { perMinute: manifestsPerMinute, burst: burst ?? manifestsPerMinute, allow, maxClients: maxClients ?? 100_000 };
  }

  const mirrors = new Map<string, CompiledMirror>();
  for (const [name, mirror] of Object.entries(input.mirrors ?? {})) mirrors.set(name, compileMirror(name, mirror));
  // Short-form hosts are anonymous mirrors, named by their URL.
  const anonymous = (hostOrUrl: string, path: PropertyKey[]): CompiledMirror | undefined => {
    const base = (/^https?:\/\//.test(hostOrUrl) ? hostOrUrl : `https://${hostOrUrl}`).replace(/\/+$/, '');
    if (!isPlainHttpUrl(base)) {
      report(path, `"${hostOrUrl}" is not a host name or an http(s) URL without query, fragment or credentials`);
      return undefined;
    }
    let mirror = mirrors.get(base);
    if (!mirror) {
      mirror = { name: base, kind: 'binary', base, repository: '', weight: 1 };
      mirrors.set(base, mirror);
    }
    return mirror;
  };

  const specs = [...(input.routes ?? []).map((route, i) => longRouteSpec(route, ['routes', i], routeChecksums.get(i) ?? new Map())), ...shortRoutes.map(shortRouteSpec)];
  const seenPrefixes = new Map<string, PropertyKey[]>();
  const routes: CompiledRoute[] = [];
  for (const spec of specs) {
    const duplicateOf = seenPrefixes.get(`${spec.type} ${spec.prefix}`);
    if (duplicateOf) {
      const firstLine = problemAt(source, duplicateOf, '').line;
      report([...spec.path, ...(spec.keepPrefix ? [] : ['prefix'])], `duplicate route prefix "${spec.prefix}" (first defined on line ${firstLine})`, spec.keepPrefix ? 'key' : 'value');
      continue;
    }
    seenPrefixes.set(`${spec.type} ${spec.prefix}`, spec.path);
    const route = compileRoute(
      spec,
      (ref, path) => {
        if (spec.keepPrefix) return anonymous(ref, path);
        const mirror = mirrors.get(ref);
        if (!mirror) {
          report(path, `mirror "${ref}" is not defined under mirrors:${suggest(ref, [...mirrors.keys()])}`);
          return undefined;
        }
        const fits = spec.type === 'oci' ? mirror.kind === 'registry' || mirror.kind === 'blobs' : mirror.kind === 'binary';
        if (!fits) {
          const what = mirror.kind === 'registry' ? 'a registry (registry:)' : mirror.kind === 'blobs' ? 'a blob bucket (blobs:), for OCI routes only,' : 'a file server (url:)';
          report(path, `mirror "${ref}" is ${what} but route "${spec.prefix}" is a ${spec.type} route`);
          return undefined;
        }
        return mirror;
      },
      (selector, keyPath) => checkRegionExists(selector, geo, (message) => report(keyPath, message, 'key')),
      report,
    );
    if (route) routes.push(route);
  }

  // GeoDNS: the public name and the regional redirectors (src/dns/).
  const geoDns = compileGeoDns(input.dns, input.redirectors, report);
  const adminToken = compileAdminToken(input.admin, report);

  if (routes.length === 0 && problems.length === 0) report([], 'no routes: add a routes: list or a short-form "/prefix:" entry');
  if (problems.length > 0) return { problems: sortProblems(problems) };

  const byLength = (key: (r: CompiledRoute) => string) => (a: CompiledRoute, b: CompiledRoute) => key(b).length - key(a).length;
  return {
    problems: [],
    config: {
      file: source.file,
      loadedAt: new Date(),
      binaryRoutes: routes.filter((r) => r.type === 'binary').sort(byLength((r) => r.prefix)),
      ociRoutes: routes.filter((r) => r.type === 'oci').sort(byLength((r) => r.namePrefix)),
      mirrors,
      trustedProxies,
      namespaces: new Set(input.registry?.namespaces ?? []),
      geo,
      ...(rateLimit && { rateLimit }),
      checkTimeoutMs: input.health?.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
      health: compileHealth(input.health),
      ...(adminToken && { adminToken }),
      ...(geoDns ? { geoDns } : {}),
    },
  };
}

/** The admin token, from the file or the environment variable it names (read now: at each load). */
function compileAdminToken(input: ConfigInput['admin'], report: (path: readonly PropertyKey[], message: string, at?: 'key' | 'value') => void): string | undefined {
  if (!input) return undefined;
  if (input.token !== undefined && input.tokenEnv !== undefined) {
    report(['admin', 'tokenEnv'], 'give token or tokenEnv, not both', 'key');
    return undefined;
  }
  if (input.tokenEnv === undefined) return input.token;
  const token = process.env[input.tokenEnv];
  // The message names the variable, never its value.
  if (token === undefined || token === '') report(['admin', 'tokenEnv'], `environment variable ${input.tokenEnv} is not set`);
  else if (token.length < 16) report(['admin', 'tokenEnv'], `the token in ${input.tokenEnv} is shorter than 16 characters`);
  else return token;
  return undefined;
}

function compileHealth(input: ConfigInput['health']): CompiledConfig['health'] {
  const a = input?.availability ?? {};
  const seconds = (value: number | undefined, fallback: number) => (value ?? fallback) * 1000;
  const verifySeconds = a.verifySeconds ?? 60;
  return {
    breakerThreshold: input?.breakerThreshold ?? 3,
    availability: {
      maxEntries: a.maxEntries ?? 100_000,
      maxBytes: (a.maxMegabytes ?? 32) * 1024 * 1024,
      verifyMs: verifySeconds * 1000,
      // Fresh for the first half of the verify bound, then refreshed in the background while
      // used: hot objects are re-checked before the bound and their requests never wait.
      presentMs: seconds(a.presentSeconds, verifySeconds / 2),
      tagMs: seconds(a.tagSeconds, 15),
      absentMs: seconds(a.absentSeconds, 30),
      errorMs: seconds(a.errorSeconds, 5),
      staleMs: seconds(a.staleSeconds, 600),
    },
  };
}

function compileMirror(name: string, input: MirrorInput): CompiledMirror {
  const isRegistry = 'registry' in input;
  const base = (isRegistry ? input.registry : 'blobs' in input ? input.blobs : input.url).replace(/\/+$/, '');
  const mirror: CompiledMirror = {
    name,
    kind: isRegistry ? 'registry' : 'blobs' in input ? 'blobs' : 'binary',
    base,
    repository: isRegistry ? (input.repository ?? '').replace(/^\/+|\/+$/g, '') : '',
    weight: input.weight ?? 1,
  };
  if ('blobs' in input) mirror.layout = (input.layout ?? DEFAULT_BLOB_LAYOUT).replace(/^\/+/, '');
  // Registries have a standard health URL (/v2/), so they are probed unless told otherwise;
  // a file server has none, so it is probed only when its config names a path.
  if (input.probe !== false && (input.probe || isRegistry)) {
    const probe = input.probe ?? {};
    const probePath = probe.path ?? (isRegistry ? '/v2/' : '/');
    mirror.probe = {
      url: `${base}${probePath}`,
      intervalMs: (probe.intervalSeconds ?? DEFAULT_PROBE.intervalMs / 1000) * 1000,
      timeoutMs: probe.timeoutMs ?? DEFAULT_PROBE.timeoutMs,
      rise: probe.rise ?? DEFAULT_PROBE.rise,
      fall: probe.fall ?? DEFAULT_PROBE.fall,
    };
  }
  if (input.ipVersions) mirror.ipVersions = new Set(input.ipVersions);
  return mirror;
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

function inferType(prefix: string): 'binary' | 'oci' {
  return prefix === '/v2' || prefix.startsWith('/v2/') ? 'oci' : 'binary';
}

/** Mirror references as tiers: a name or a list item is a tier of one; a nested list is one tier. */
function refs(value: string | (string | string[])[], path: PropertyKey[]): MirrorRef[][] {
  if (!Array.isArray(value)) return [[{ ref: value, path }]];
  return value.map((item, i) => (Array.isArray(item) ? item.map((ref, j) => ({ ref, path: [...path, i, j] })) : [{ ref: item, path: [...path, i] }]));
}

function longRouteSpec(route: RouteInput, path: PropertyKey[], checksums: ReadonlyMap<string, string>): RouteSpec {
  const prefix = normalisePrefix(route.prefix);
  const spec: RouteSpec = {
    prefix,
    type: route.type ?? inferType(prefix),
    keepPrefix: false,
    path,
    regions: Object.entries(route.regions ?? {}).map(([key, value]) => ({
      key,
      keyPath: [...path, 'regions', key],
      mirrors: refs(value, [...path, 'regions', key]),
    })),
    defaultMirrors: refs(route.default, [...path, 'default']),
    whenAllDown: route.whenAllDown ?? 'default',
    order: route.order ?? 'listed',
    checksums,
  };
  if (route.origin) spec.origin = { ref: route.origin, path: [...path, 'origin'] };
  return spec;
}

function shortRouteSpec(route: ShortRoute): RouteSpec {
  const prefix = normalisePrefix(route.prefix);
  const spec: RouteSpec = { prefix, type: inferType(prefix), keepPrefix: true, path: [route.prefix], regions: [], whenAllDown: 'default', order: 'listed', checksums: new Map() };
  route.entries.forEach((entry, i) => {
    const [key, host] = Object.entries(entry)[0]!;
    const at = [route.prefix, i, key];
    if (key === 'default') spec.defaultMirrors = [[{ ref: host, path: at }]];
    else spec.regions.push({ key, keyPath: at, mirrors: [[{ ref: host, path: at }]] });
  });
  return spec;
}

function compileRoute(
  spec: RouteSpec,
  resolveMirror: (ref: string, path: PropertyKey[]) => CompiledMirror | undefined,
  checkRegion: (selector: RegionSelector, keyPath: PropertyKey[]) => void,
  report: (path: readonly PropertyKey[], message: string, at?: 'key' | 'value') => void,
): CompiledRoute | undefined {
  let ok = true;
  const resolveAll = (tiers: MirrorRef[][], region: string): RegionMirrors => {
    const resolved = tiers.map((tier) => tier.map((m) => resolveMirror(m.ref, m.path)));
    const known = resolved.map((tier) => tier.filter((m): m is CompiledMirror => m !== undefined));
    if (known.some((tier, i) => tier.length !== resolved[i]!.length)) ok = false;
    return { region, mirrors: known.flat(), tiers: known };
  };
  const route: CompiledRoute = {
    prefix: spec.prefix,
    type: spec.type,
    namePrefix: spec.type === 'oci' ? spec.prefix.replace(/^\/v2\/?/, '') : '',
    keepPrefix: spec.keepPrefix,
    cidrs: new CidrTrie(),
    cloudRegions: new Map(),
    cloudProviders: new Map(),
    countries: new Map(),
    continents: [],
    default: { region: 'default', mirrors: [], tiers: [] },
    checksums: spec.checksums,
    whenAllDown: spec.whenAllDown,
    order: spec.order,
    candidateMemo: newCandidateMemo(),
  };
  const continents: { codes: ReadonlySet<string>; entry: RegionMirrors }[] = [];
  for (const region of spec.regions) {
    const parsed = parseRegion(region.key);
    if (!parsed.ok) {
      report(region.keyPath, parsed.message, 'key');
      ok = false;
      continue;
    }
    const selector = parsed.selector;
    checkRegion(selector, region.keyPath);
    const entry = resolveAll(region.mirrors, region.key);
    switch (selector.kind) {
      case 'default':
        report(region.keyPath, 'put the default under default:, not under regions:', 'key');
        ok = false;
        break;
      case 'cidr':
        route.cidrs.insert(selector.cidr, entry);
        break;
      case 'cloud':
        (route.cloudRegions as Map<string, RegionMirrors>).set(selector.region, entry);
        break;
      case 'cloud-provider':
        (route.cloudProviders as Map<string, RegionMirrors>).set(selector.provider, entry);
        break;
      case 'country':
        (route.countries as Map<string, RegionMirrors>).set(selector.country, entry);
        break;
      case 'continent':
        continents.push({ codes: new Set(selector.continents), entry });
        break;
    }
  }
  route.continents = continents.sort((a, b) => a.codes.size - b.codes.size);
  if (!spec.defaultMirrors) {
    report(spec.path, `route "${spec.prefix}" has no default: every route needs one for clients no region matches`, 'key');
    ok = false;
  } else {
    route.default = resolveAll(spec.defaultMirrors, 'default');
  }
  if (spec.origin) {
    const origin = resolveMirror(spec.origin.ref, spec.origin.path);
    if (origin?.kind === 'blobs') {
      report(spec.origin.path, `mirror "${origin.name}" is a blob bucket: it cannot be an origin, which serves manifests, tags and referrers too`);
      ok = false;
    } else if (origin) route.origin = origin;
    else ok = false;
  }
  // Blob buckets answer blobs only: manifests, tags and referrers need a registry to fall to.
  if (ok && spec.type === 'oci' && !route.origin && route.default.mirrors.length > 0 && route.default.mirrors.every((m) => m.kind === 'blobs')) {
    report([...spec.path, 'default'], `route "${spec.prefix}" has only blob buckets as its default: add a registry (manifests, tags and referrers come from registries)`);
    ok = false;
  }
  return ok ? route : undefined;
}

function checkRegionExists(selector: RegionSelector, geo: GeoData, report: (message: string) => void): void {
  if (selector.kind === 'cloud') {
    const provider = selector.region.slice(0, selector.region.indexOf(':'));
    if (!geo.cloud.providers.has(provider)) {
      report(`"${selector.key}" needs ${provider} IP ranges: add cloudRanges.${provider} (npm run update-ranges downloads them)`);
    } else if (!geo.cloud.regions.has(selector.region)) {
      const known = [...geo.cloud.regions].filter((r) => r.startsWith(`${provider}:`));
      report(`"${selector.key}" is not a region in the ${provider} ranges${suggest(selector.region, known)}`);
    }
  } else if (selector.kind === 'cloud-provider' && !geo.cloud.providers.has(selector.provider)) {
    report(`"${selector.key}" needs ${selector.provider} IP ranges: add cloudRanges.${selector.provider}`);
  }
}

/** " (did you mean X?)" for the closest known name, when one is close. */
function suggest(name: string, known: string[]): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
