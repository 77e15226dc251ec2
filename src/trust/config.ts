// The config's `trust:` block, compiled: which routes have expected content and where it comes
// from, the ownership key and which destination each mirror is, and the audit's pace. Checked
// against the compiled routes and mirrors so every mistake is reported at its file:line:column.
import { dirname, resolve } from 'node:path';
import type { CompiledConfig, CompiledMirror, CompiledRoute } from '../config/compiled.js';
import type { ConfigInput } from '../config/schema.js';
import { problemAt, type SourceProblem, type YamlSource } from '../config/yaml-source.js';

export interface ExpectedSource {
  route: CompiledRoute;
  /** Absolute paths. */
  manifests?: string;
  ledgers?: string;
  /** Registry path stripped from promoter destinations to get the names clients ask for ('' = none). */
  root: string;
}

export interface CompiledTrust {
  expected: readonly ExpectedSource[];
  /** HMAC key of the ownership tokens; undefined = no ownership check. Never logged. */
  ownershipKey?: string;
  /** File mirrors and blob buckets: the promoter destination each one is. */
  destinations: ReadonlyMap<string, string>;
  audit: { intervalMs: number; requestsPerSecond: number; sampleBytes: number; sliceMs: number };
  /** A docker config.json (absolute path) the audit's registry requests take credentials from. Never logged. */
  credentials?: string;
}

export const DEFAULT_AUDIT = { requestsPerSecond: 20, sampleBytes: 64 << 20, sliceSeconds: 10 };

export function compileTrust(source: YamlSource, input: ConfigInput['trust'], config: Pick<CompiledConfig, 'binaryRoutes' | 'ociRoutes' | 'mirrors'>, problems: SourceProblem[]): CompiledTrust | undefined {
  if (!input) return undefined;
  const base = dirname(resolve(source.file));
  const routes = [...config.binaryRoutes, ...config.ociRoutes];
  const expected: ExpectedSource[] = [];
  const seen = new Set<string>();
  (input.expected ?? []).forEach((entry, i) => {
    const at = ['trust', 'expected', i];
    const prefix = entry.route === '/' ? '/' : entry.route.replace(/\/+$/, '');
    const route = routes.find((r) => r.prefix === prefix);
    if (!route) {
      problems.push(problemAt(source, [...at, 'route'], `no route has prefix "${entry.route}" (routes: ${routes.map((r) => r.prefix).join(', ')})`));
      return;
    }
    if (seen.has(route.prefix)) problems.push(problemAt(source, [...at, 'route'], `route "${entry.route}" already has expected content above`));
    seen.add(route.prefix);
    if (!entry.manifests && !entry.ledgers) problems.push(problemAt(source, at, 'give manifests:, ledgers: or both'));
    const root = (entry.root ?? route.origin?.repository ?? '').replace(/^\/+|\/+$/g, '');
    expected.push({
      route,
      root,
      ...(entry.manifests && { manifests: resolve(base, entry.manifests) }),
      ...(entry.ledgers && { ledgers: resolve(base, entry.ledgers) }),
    });
  });

  let ownershipKey: string | undefined;
  const destinations = new Map<string, string>();
  const own = input.ownership;
  if (own) {
    if (own.key !== undefined && own.keyEnv !== undefined) problems.push(problemAt(source, ['trust', 'ownership', 'keyEnv'], 'give key or keyEnv, not both', 'key'));
    else if (own.keyEnv !== undefined) {
      const key = process.env[own.keyEnv];
      // The message names the variable, never its value.
      if (!key) problems.push(problemAt(source, ['trust', 'ownership', 'keyEnv'], `environment variable ${own.keyEnv} is not set`));
      else if (key.length < 16) problems.push(problemAt(source, ['trust', 'ownership', 'keyEnv'], `the key in ${own.keyEnv} is shorter than 16 characters`));
      else ownershipKey = key;
    } else if (own.key !== undefined) ownershipKey = own.key;
    else problems.push(problemAt(source, ['trust', 'ownership'], 'give key or keyEnv'));
    for (const [name, destination] of Object.entries(own.destinations ?? {})) {
      const mirror = config.mirrors.get(name);
      if (!mirror) problems.push(problemAt(source, ['trust', 'ownership', 'destinations', name], `mirror "${name}" is not defined under mirrors:`, 'key'));
      else if (mirror.kind === 'registry') problems.push(problemAt(source, ['trust', 'ownership', 'destinations', name], `"${name}" is a registry: its destination is its registry host and repository`, 'key'));
      else destinations.set(name, destination);
    }
    // Every file mirror and blob bucket whose ownership will be checked needs its destination named.
    for (const source_ of expected) {
      for (const mirror of routeMirrors(source_.route)) {
        if (mirror.kind !== 'registry' && !destinations.has(mirror.name)) {
          const what = mirror.kind === 'blobs' ? 'blob bucket' : 'file mirror';
          problems.push(problemAt(source, ['trust', 'ownership'], `${what} "${mirror.name}" (route ${source_.route.prefix}) needs its promoter destination under destinations: to check its ownership token`));
        }
      }
    }
  }
  const audit = input.audit ?? {};
  return {
    expected,
    ...(input.credentials && { credentials: resolve(base, input.credentials) }),
    ...(ownershipKey && { ownershipKey }),
    destinations,
    audit: {
      intervalMs: (audit.intervalSeconds ?? 0) * 1000,
      requestsPerSecond: audit.requestsPerSecond ?? DEFAULT_AUDIT.requestsPerSecond,
      sampleBytes: audit.sampleBytes ?? DEFAULT_AUDIT.sampleBytes,
      sliceMs: (audit.sliceSeconds ?? DEFAULT_AUDIT.sliceSeconds) * 1000,
    },
  };
}

/** The mirrors a route sends clients to (every region and the default), without its origin. */
export function routeMirrors(route: CompiledRoute): CompiledMirror[] {
  const mirrors = new Set<CompiledMirror>();
  const add = (list: readonly CompiledMirror[]) => {
    for (const m of list) mirrors.add(m);
  };
  for (const r of route.cidrs.values()) add(r.mirrors);
  for (const r of route.cloudRegions.values()) add(r.mirrors);
  for (const r of route.cloudProviders.values()) add(r.mirrors);
  for (const r of route.countries.values()) add(r.mirrors);
  for (const c of route.continents) add(c.entry.mirrors);
  add(route.default.mirrors);
  if (route.origin) mirrors.delete(route.origin);
  return [...mirrors];
}
