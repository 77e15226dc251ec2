// Reads a config file into a CompiledConfig, or into the full list of what is wrong with it.
// Never throws for a bad file: a reload must be able to report and keep the old config.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { buildCloudIndex, CLOUD_PROVIDERS, readCloudRangesFile, type CloudRange } from '../geo/cloud-ranges.js';
import { openGeoIpDatabase } from '../geo/geoip.js';
import type { GeoData } from '../geo/location.js';
import type { CompiledConfig } from './compiled.js';
import { compileConfig, type ShortRoute } from './compile.js';
import { z } from 'zod';
import { configSchema, shortRouteSchema, type ConfigInput } from './schema.js';
import { parseYamlSource, problemAt, sortProblems, zodProblems, type SourceProblem, type YamlSource } from './yaml-source.js';
import { errorMessage } from '../util/error-message.js';
import { compileTrust } from '../trust/config.js';

export type LoadResult = { ok: true; config: CompiledConfig } | { ok: false; problems: SourceProblem[] };

export function loadConfigFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, problems: [{ file, line: 1, column: 1, message: `cannot read config: ${errorMessage(error)}` }] };
  }
  return loadConfigText(file, text);
}

export function loadConfigText(file: string, text: string): LoadResult {
  const parsed = parseYamlSource(file, text);
  if (!parsed.source) return { ok: false, problems: parsed.problems };
  const source = parsed.source;
  if (source.data === null || typeof source.data !== 'object' || Array.isArray(source.data)) {
    return { ok: false, problems: [problemAt(source, [], 'a config is a mapping of settings and routes')] };
  }

  // Keys starting with "/" are short-form routes; everything else is a setting.
  const settings: Record<string, unknown> = {};
  const shortRoutes: ShortRoute[] = [];
  const problems: SourceProblem[] = [];
  for (const [key, value] of Object.entries(source.data)) {
    if (!key.startsWith('/')) {
      settings[key] = value;
      continue;
    }
    const route = shortRouteSchema.safeParse(value);
    if (route.success) shortRoutes.push({ prefix: key, entries: route.data });
    else problems.push(...zodProblems(source, route.error, [key]));
  }
  const input = parseSettings(settings);
  if (input.error) problems.push(...zodProblems(source, input.error));
  if (!input.data) return { ok: false, problems };

  // With schema errors, the rest of the file is still checked (on a copy without the bad values),
  // so one unknown key does not hide every other problem; no config is served from it.
  const geo = loadGeoData(source, input.data, problems);
  const dependencies: string[] = [];
  const checksums = loadRouteChecksums(source, input.data.routes ?? [], problems, dependencies);
  if (!geo) return { ok: false, problems: sortProblems(problems) };
  const compiled = compileConfig(source, input.data, shortRoutes, geo, checksums);
  const trust = compiled.config && compileTrust(source, input.data.trust, compiled.config, problems);
  // Expected content given as one file (a manifest, a ledger) reloads on change like checksums; a
  // folder of them reloads on SIGHUP.
  for (const e of trust?.expected ?? []) for (const path of [e.manifests, e.ledgers]) if (path && isFile(path)) dependencies.push(path);
  if (problems.length === 0 && compiled.config) return { ok: true, config: { ...compiled.config, dependencies, ...(trust && { trust }) } };
  // Not news after a schema error: uses of a mirror taken out, and "no routes" when a key like `rutes:` was.
  const follow = compiled.problems.filter((p) => !input.dropped.some((name) => p.message.startsWith(`mirror "${name}" is not defined`)) && !(problems.length > 0 && p.message.startsWith('no routes')));
  return { ok: false, problems: sortProblems([...problems, ...follow]) };
}

/**
 * The settings validated against the schema. On errors, also the settings with each offending
 * value taken out (an unknown key, a bad value; a mirror whose entry cannot stand without it), so
 * the checks that need typed input still run. `dropped` names mirrors taken out entirely: their
 * uses are not reported again as undefined. A route (a list entry) is never taken out, as that
 * would shift the positions of the ones after it: then only the schema errors are reported.
 */
function parseSettings(settings: Record<string, unknown>): { data?: ConfigInput; error?: z.ZodError; dropped: string[] } {
  const first = configSchema.safeParse(settings);
  if (first.success) return { data: first.data, dropped: [] };
  const copy = structuredClone(settings);
  const dropped: string[] = [];
  let issues = first.error.issues;
  for (let round = 0; round < 5; round++) {
    for (const issue of issues) if (!dropOffending(copy, issue, dropped)) return { error: first.error, dropped };
    const again = configSchema.safeParse(copy);
    if (again.success) return { data: again.data, error: first.error, dropped };
    issues = again.error.issues;
  }
  return { error: first.error, dropped };
}

function dropOffending(root: Record<string, unknown>, issue: z.core.$ZodIssue, dropped: string[]): boolean {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const holder = valueAt(root, path);
    if (!isPlainObject(holder)) return false;
    for (const key of issue.keys) delete holder[key];
    return true;
  }
  // A missing required value: the object that needs it goes.
  let end = valueAt(root, path) === undefined ? path.length - 1 : path.length;
  // A bad list item: the whole list goes with it, up to the first mapping key.
  while (end > 0 && !isPlainObject(valueAt(root, path.slice(0, end - 1)))) end--;
  // Never the whole routes or mirrors, nor a route (list entry): see parseSettings.
  if (end <= 1) return false;
  const holder = valueAt(root, path.slice(0, end - 1));
  const key = path[end - 1];
  if (!isPlainObject(holder) || typeof key !== 'string') return false;
  delete holder[key];
  if (end === 2 && path[0] === 'mirrors') dropped.push(key);
  return true;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function loadGeoData(source: YamlSource, input: Pick<ConfigInput, 'geoip' | 'cloudRanges'>, problems: SourceProblem[]): GeoData | undefined {
  const base = dirname(resolve(source.file));
  const before = problems.length;
  let geoip;
  try {
    geoip = openGeoIpDatabase(input.geoip ? resolve(base, input.geoip.database) : undefined);
  } catch (error) {
    problems.push(problemAt(source, ['geoip', 'database'], `cannot open GeoIP database: ${errorMessage(error)}`));
  }
  const ranges: CloudRange[] = [];
  for (const provider of CLOUD_PROVIDERS) {
    const path = input.cloudRanges?.[provider];
    if (!path) continue;
    try {
      ranges.push(...readCloudRangesFile(provider, resolve(base, path)));
    } catch (error) {
      problems.push(problemAt(source, ['cloudRanges', provider], errorMessage(error)));
    }
  }
  if (!geoip || problems.length > before) return undefined;
  return { geoip, cloud: buildCloudIndex(ranges) };
}

/** A kpromo file manifest, as far as checksums go (its other keys, like filestores, are ignored here). */
const checksumManifestSchema = z.object({
  files: z.array(z.object({ name: z.string().min(1), sha256: z.string().regex(/^[a-f0-9]{64}$/, 'sha256 must be 64 lowercase hex digits') })),
});

/** sha256 by file name for each route that names checksum manifests, read relative to the config. */
function loadRouteChecksums(source: YamlSource, routes: readonly { checksums?: string | string[] | undefined }[], problems: SourceProblem[], read: string[]): Map<number, Map<string, string>> {
  const base = dirname(resolve(source.file));
  const byRoute = new Map<number, Map<string, string>>();
  routes.forEach((route, i) => {
    if (!route.checksums) return;
    const files = Array.isArray(route.checksums) ? route.checksums : [route.checksums];
    const sums = new Map<string, string>();
    files.forEach((file, j) => {
      const at = Array.isArray(route.checksums) ? ['routes', i, 'checksums', j] : ['routes', i, 'checksums'];
      const path = resolve(base, file);
      read.push(path);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        problems.push(problemAt(source, at, `cannot read checksum manifest: ${errorMessage(error)}`));
        return;
      }
      const parsed = parseYamlSource(path, text);
      if (!parsed.source) {
        problems.push(...parsed.problems);
        return;
      }
      const manifest = checksumManifestSchema.safeParse(parsed.source.data);
      if (!manifest.success) {
        problems.push(...zodProblems(parsed.source, manifest.error));
        return;
      }
      for (const entry of manifest.data.files) sums.set(entry.name.replace(/^\/+/, ''), entry.sha256);
    });
    byRoute.set(i, sums);
  });
  return byRoute;
}
