// Reads a config file into a CompiledConfig, or into the full list of what is wrong with it.
// Never throws for a bad file: a reload must be able to report and keep the old config.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { buildCloudIndex, CLOUD_PROVIDERS, readCloudRangesFile, type CloudRange } from '../geo/cloud-ranges.js';
import { openGeoIpDatabase } from '../geo/geoip.js';
import { createLocationMemo, type GeoData } from '../geo/location.js';
import type { CompiledConfig } from './compiled.js';
import { compileConfig, type ShortRoute } from './compile.js';
import { z } from 'zod';
import { configSchema, shortRouteSchema } from './schema.js';
import { parseYamlSource, problemAt, zodProblems, type SourceProblem, type YamlSource } from './yaml-source.js';

export type LoadResult = { ok: true; config: CompiledConfig } | { ok: false; problems: SourceProblem[] };

export function loadConfigFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, problems: [{ file, line: 1, column: 1, message: `cannot read config: ${(error as Error).message}` }] };
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
  const input = configSchema.safeParse(settings);
  if (!input.success) problems.push(...zodProblems(source, input.error));
  if (!input.success || problems.length > 0) return { ok: false, problems };

  const geo = loadGeoData(source, input.data, problems);
  const checksums = loadRouteChecksums(source, input.data.routes ?? [], problems);
  if (!geo || problems.length > 0) return { ok: false, problems };
  const compiled = compileConfig(source, input.data, shortRoutes, geo, checksums);
  return compiled.config ? { ok: true, config: compiled.config } : { ok: false, problems: compiled.problems };
}

function loadGeoData(source: YamlSource, input: { geoip?: { database: string }; cloudRanges?: Partial<Record<string, string>> }, problems: SourceProblem[]): GeoData | undefined {
  const base = dirname(resolve(source.file));
  let geoip;
  try {
    geoip = openGeoIpDatabase(input.geoip ? resolve(base, input.geoip.database) : undefined);
  } catch (error) {
    problems.push(problemAt(source, ['geoip', 'database'], `cannot open GeoIP database: ${(error as Error).message}`));
  }
  const ranges: CloudRange[] = [];
  for (const provider of CLOUD_PROVIDERS) {
    const path = input.cloudRanges?.[provider];
    if (!path) continue;
    try {
      ranges.push(...readCloudRangesFile(provider, resolve(base, path)));
    } catch (error) {
      problems.push(problemAt(source, ['cloudRanges', provider], (error as Error).message));
    }
  }
  if (!geoip || problems.length > 0) return undefined;
  return { geoip, cloud: buildCloudIndex(ranges), memo: createLocationMemo() };
}

/** A kpromo file manifest, as far as checksums go (its other keys, like filestores, are ignored here). */
const checksumManifestSchema = z.object({
  files: z.array(z.object({ name: z.string().min(1), sha256: z.string().regex(/^[a-f0-9]{64}$/, 'sha256 must be 64 lowercase hex digits') })),
});

/** sha256 by file name for each route that names checksum manifests, read relative to the config. */
function loadRouteChecksums(source: YamlSource, routes: readonly { checksums?: string | string[] | undefined }[], problems: SourceProblem[]): Map<number, Map<string, string>> {
  const base = dirname(resolve(source.file));
  const byRoute = new Map<number, Map<string, string>>();
  routes.forEach((route, i) => {
    if (!route.checksums) return;
    const files = Array.isArray(route.checksums) ? route.checksums : [route.checksums];
    const sums = new Map<string, string>();
    files.forEach((file, j) => {
      const at = Array.isArray(route.checksums) ? ['routes', i, 'checksums', j] : ['routes', i, 'checksums'];
      const path = resolve(base, file);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        problems.push(problemAt(source, at, `cannot read checksum manifest: ${(error as Error).message}`));
        return;
      }
      const parsed = parseYamlSource(path, text);
      if (!parsed.source) return void problems.push(...parsed.problems);
      const manifest = checksumManifestSchema.safeParse(parsed.source.data);
      if (!manifest.success) return void problems.push(...zodProblems(parsed.source, manifest.error));
      for (const entry of manifest.data.files) sums.set(entry.name.replace(/^\/+/, ''), entry.sha256);
    });
    byRoute.set(i, sums);
  });
  return byRoute;
}
