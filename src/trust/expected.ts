// What production must hold, per route, as the redirector and the audit see it: read from the
// promoter's own manifests and/or the ledgers it writes into each destination, and indexed by
// the names clients ask for (`/v2/<name>/...`, or a file's path below the route prefix).
//
// Compact on purpose: one Set of digests and one Map of tags per image name, one Map of files;
// digests and sha256 strings are shared with the loader's, not copied. For k8s.io's real
// manifests (6 image projects) this is well under a megabyte (test/trust/expected.test.ts).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceProblem } from '../config/yaml-source.js';
import { parseLedger } from '../promoter/ledger.js';
import { loadManifests } from '../promoter/load.js';
import { errorMessage } from '../util/error-message.js';
import type { CompiledTrust, ExpectedSource } from './config.js';

export interface ExpectedImage {
  /** Top-level manifests promoted under this name. */
  digests: Set<string>;
  /** tag -> the digest it must point at. */
  tags: Map<string, string>;
}

export interface ExpectedRoute {
  prefix: string;
  type: 'binary' | 'oci';
  /** Client repository name -> what it must hold. */
  images: Map<string, ExpectedImage>;
  /** File path below the route prefix -> sha256 (hex). */
  files: Map<string, string>;
  /** Destination paths below the root (`kops`, or '' for the root itself): where ownership tokens live. */
  imagePrefixes: Set<string>;
  /**
   * Availability-cache keys (`manifest:name:ref`, `file:/path`) of what a ledger marks retiring:
   * the promoter is about to delete it, so no mirror gets a client for it (the origin answers).
   */
  retiring: Set<string>;
  /**
   * Availability-cache keys -> when the promoter finished writing the object (epoch ms), from the
   * ledgers' `promoted` stamps: each mirror's lag is measured from it. Absent for objects named
   * only by manifests or by ledgers written before the stamps existed.
   */
  promotedAt?: Map<string, number>;
}

export class ExpectedContent {
  /** `${route}\n${name}:${tag}` and `${route}\n${name}@${digest}` -> a small integer: audit proofs are bytes indexed by it. */
  private ordinals: Map<string, number> | undefined;

  constructor(
    readonly routes: ReadonlyMap<string, ExpectedRoute>,
    readonly loadedAt = new Date(),
  ) {}

  /** The ordinal of a tag (`name:tag`) or image digest (`name@digest`) of a route, or undefined. */
  ordinal(prefix: string, key: string): number | undefined {
    return this.ordinalMap().get(`${prefix}\n${key}`);
  }

  /** How many ordinals there are (the length of a proof array). */
  ordinalCount(): number {
    return this.ordinalMap().size;
  }

  private ordinalMap(): Map<string, number> {
    if (this.ordinals) return this.ordinals;
    const map = new Map<string, number>();
    for (const [prefix, route] of this.routes) {
      for (const [name, image] of route.images) {
        for (const tag of image.tags.keys()) map.set(`${prefix}\n${name}:${tag}`, map.size);
        for (const digest of image.digests) map.set(`${prefix}\n${name}@${digest}`, map.size);
      }
    }
    this.ordinals = map;
    return map;
  }

  /** Whether a ledger marks the object behind this availability-cache key as retiring. */
  isRetiring(prefix: string, key: string): boolean {
    return this.routes.get(prefix)?.retiring.has(key) === true;
  }

  route(prefix: string): ExpectedRoute | undefined {
    return this.routes.get(prefix);
  }

  /** When the promoter wrote the object behind an availability-cache key (epoch ms), when a ledger says. */
  promotedAt(key: string): number | undefined {
    for (const route of this.routes.values()) {
      const at = route.promotedAt?.get(key);
      if (at !== undefined) return at;
    }
    return undefined;
  }

  /** The digest a tag must point at, when the route's expected content names it. */
  tagDigest(prefix: string, name: string, tag: string): string | undefined {
    return this.routes.get(prefix)?.images.get(name)?.tags.get(tag);
  }

  counts(): { images: number; digests: number; tags: number; files: number } {
    let images = 0;
    let digests = 0;
    let tags = 0;
    let files = 0;
    for (const r of this.routes.values()) {
      images += r.images.size;
      for (const i of r.images.values()) {
        digests += i.digests.size;
        tags += i.tags.size;
      }
      files += r.files.size;
    }
    return { images, digests, tags, files };
  }
}

export const NO_EXPECTED = new ExpectedContent(new Map());

export type ExpectedLoad = { ok: true; expected: ExpectedContent; warnings: SourceProblem[] } | { ok: false; problems: SourceProblem[] };

/** Reads every route's sources. Any error refuses the whole load (the previous content keeps serving). */
export async function loadExpected(trust: CompiledTrust | undefined): Promise<ExpectedLoad> {
  const routes = new Map<string, ExpectedRoute>();
  const problems: SourceProblem[] = [];
  const warnings: SourceProblem[] = [];
  for (const source of trust?.expected ?? []) {
    const route: ExpectedRoute = { prefix: source.route.prefix, type: source.route.type, images: new Map(), files: new Map(), imagePrefixes: new Set(), retiring: new Set(), promotedAt: new Map() };
    if (source.manifests) await fromManifests(source, route, problems, warnings);
    if (source.ledgers) await fromLedgers(source, route, problems);
    routes.set(route.prefix, route);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, expected: new ExpectedContent(routes), warnings };
}

/** `host/a/b` -> the name below `root`, or undefined when the destination is not under it. */
export function belowRoot(destination: string, root: string): string | undefined {
  const path = destination.replace(/\/+$/, '').split('/').slice(1).join('/');
  if (root === '') return path;
  if (path === root) return '';
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

function image(route: ExpectedRoute, name: string): ExpectedImage {
  let entry = route.images.get(name);
  if (!entry) {
    entry = { digests: new Set(), tags: new Map() };
    route.images.set(name, entry);
  }
  return entry;
}

async function fromManifests(source: ExpectedSource, route: ExpectedRoute, problems: SourceProblem[], warnings: SourceProblem[]): Promise<void> {
  const loaded = await loadManifests(source.manifests!);
  // An error about one entry (a malformed digest) leaves out that entry, as the promoter does; any
  // other error refuses the load: what production holds for that project would be unknown.
  for (const f of loaded.findings) (f.severity === 'error' && !f.entryOnly ? problems : warnings).push({ file: f.file, line: f.line, column: f.column, message: f.message });
  for (const project of loaded.projects) {
    if (project.kind === 'files') {
      if (route.type !== 'binary')
        problems.push({ file: project.files[0] ?? source.manifests!, line: 1, column: 1, message: `file project ${project.project} is named as expected content of the OCI route ${route.prefix}` });
      else for (const entry of project.entries) route.files.set(entry.name.replace(/^\/+/, ''), entry.sha256);
      continue;
    }
    if (route.type !== 'oci') {
      problems.push({ file: project.files[0] ?? source.manifests!, line: 1, column: 1, message: `image project ${project.project} is named as expected content of the file route ${route.prefix}` });
      continue;
    }
    const prefixes = new Set(project.destinations.map((d) => belowRoot(d, source.root)).filter((p): p is string => p !== undefined));
    if (prefixes.size === 0) {
      problems.push({
        file: project.files[0] ?? source.manifests!,
        line: 1,
        column: 1,
        message: `no destination of ${project.project} is under the root "${source.root}" (destinations: ${project.destinations.join(', ')}); set trust.expected[].root`,
      });
      continue;
    }
    for (const prefix of prefixes) {
      route.imagePrefixes.add(prefix);
      for (const entry of project.images) {
        const target = image(route, prefix ? `${prefix}/${entry.name}` : entry.name);
        for (const [digest, tags] of entry.dmap) {
          target.digests.add(digest);
          for (const tag of tags) target.tags.set(tag, digest);
        }
      }
    }
  }
}

async function fromLedgers(source: ExpectedSource, route: ExpectedRoute, problems: SourceProblem[]): Promise<void> {
  const path = source.ledgers!;
  let files: string[];
  try {
    files = (await stat(path)).isDirectory()
      ? (await readdir(path))
          .filter((f) => f.endsWith('.json'))
          .sort()
          .map((f) => join(path, f))
      : [path];
  } catch (error) {
    problems.push({ file: path, line: 1, column: 1, message: `cannot read ledgers: ${errorMessage(error)}` });
    return;
  }
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push({ file, line: 1, column: 1, message: `cannot read ledger: ${errorMessage(error)}` });
      continue;
    }
    let ledger;
    let destination: string;
    try {
      ledger = parseLedger(text);
      destination = (JSON.parse(text) as { destination: string }).destination;
    } catch (error) {
      problems.push({ file, line: 1, column: 1, message: errorMessage(error) });
      continue;
    }
    // A retiring entry is about to be deleted: not expected, and no mirror gets a client for it.
    const retiring = ledger.retiring ?? new Map<string, string>();
    if (route.type === 'binary') {
      for (const name of retiring.keys()) {
        if (!ledger.files.has(name)) continue;
        route.retiring.add(`file:${route.prefix === '/' ? '' : route.prefix}/${name}`);
        route.files.delete(name);
      }
      // What the manifests say wins: a ledger lags behind a reviewed change.
      for (const [name, sha256] of ledger.files) if (!route.files.has(name) && !retiring.has(name)) route.files.set(name, sha256);
      for (const name of ledger.files.keys()) if (route.files.get(name) === ledger.files.get(name)) stamp(route, ledger.promoted, name, `file:${route.prefix === '/' ? '' : route.prefix}/${name}`);
      continue;
    }
    const prefix = belowRoot(destination, source.root);
    if (prefix === undefined) {
      problems.push({ file, line: 1, column: 1, message: `ledger destination ${destination} is not under the root "${source.root}"; set trust.expected[].root` });
      continue;
    }
    route.imagePrefixes.add(prefix);
    for (const [name, l] of ledger.images) {
      const client = prefix ? `${prefix}/${name}` : name;
      const target = image(route, client);
      for (const digest of l.digests) {
        if (!retiring.has(`${name}@${digest}`)) target.digests.add(digest);
        else {
          route.retiring.add(`manifest:${client}:${digest}`);
          target.digests.delete(digest);
        }
      }
      for (const [tag, digest] of l.tags) {
        if (!retiring.has(`${name}:${tag}`) && !retiring.has(`${name}@${digest}`)) {
          if (!target.tags.has(tag)) target.tags.set(tag, digest);
        } else {
          route.retiring.add(`manifest:${client}:${tag}`);
          if (target.tags.get(tag) === digest) target.tags.delete(tag);
        }
      }
      // The keys of the audit's findings: `manifest:name:digest` and `manifest:name:tag`.
      for (const digest of l.digests) stamp(route, ledger.promoted, `${name}@${digest}`, `manifest:${client}:${digest}`);
      for (const [tag, digest] of l.tags) if (target.tags.get(tag) === digest) stamp(route, ledger.promoted, `${name}:${tag}`, `manifest:${client}:${tag}`);
    }
  }
}

function stamp(route: ExpectedRoute, promoted: ReadonlyMap<string, string> | undefined, entry: string, key: string): void {
  const at = promoted?.get(entry);
  if (at === undefined) return;
  route.promotedAt ??= new Map();
  route.promotedAt.set(key, Date.parse(at));
}
