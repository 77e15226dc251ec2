// The audit: checks each mirror against the expected content and reports one finding per problem
// (`mirror object problem`). Used by `artifact-serving audit` and, in the background, by `serve`,
// whose routing then skips what it found (src/trust/state.ts).
//
// Per image digest it GETs the manifest from the mirror and hashes it (manifests are small), then
// walks an index's platform manifests and each manifest's config and layers with a HEAD
// (Content-Length against the descriptor's size, Docker-Content-Digest where sent). Tags are
// HEADed and compared with the promoted digest. cosign's `.sig`/`.att`/`.sbom` tags and the
// referrers the origin holds must be on the mirror too. A sample of blobs and files is downloaded
// and hashed within a byte budget per mirror: only that catches bytes altered in storage. Every
// request waits for a shared pacer, so the audit's load stays at the configured rate.
import { createHash } from 'node:crypto';
import type { CompiledConfig, CompiledMirror, CompiledRoute } from '../config/compiled.js';
import type { CredentialLookup } from '../oci/auth.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/reference.js';
import { authorizingFetch } from './auth-fetch.js';
import { errorMessage } from '../util/error-message.js';
import { routeMirrors } from './config.js';
import type { ExpectedContent } from './expected.js';
import { blobUrl } from '../mirrors/blob-url.js';
import { readToken, registryDestination, tokenProblem } from './ownership.js';

export interface AuditFinding {
  mirror: string;
  /** What it is about, for people: `kops/pause:v1`, `kops/pause@sha256:…`, `/releases/v1/kubectl`, `owner`. */
  object: string;
  problem: string;
  /** `mirror`: the whole mirror is out (ownership, altered bytes); `object`: only this object. */
  scope: 'object' | 'mirror';
  /** The availability-cache key of the object, for routing (object scope). */
  key?: string;
}

/**
 * What the audit proved, per mirror: the positive facts routing by proof needs, one byte per
 * expected tag and image digest (ExpectedContent.ordinal), as bits: for a tag, PROVEN = it pointed
 * at the promoted digest; for an image, PROVEN = its signature set was complete, and REFERRERS =
 * its referrers list equals the origin's. A byte array, not sets of strings: for k8s.io's
 * ~21,000 digests x 20 mirrors that is 840 KB instead of ~110 MB.
 */
export interface MirrorProof {
  proven: Uint8Array;
  /** Objects checked and found as expected. */
  verified: number;
}

/** The proof bits: a tag at its promoted digest, or an image's complete signature set. */
export const PROVEN = 1;
/** An image's referrers list on the mirror is the origin's, entry for entry. */
export const REFERRERS = 2;

export function newProof(expected: ExpectedContent): MirrorProof {
  return { proven: new Uint8Array(expected.ordinalCount()), verified: 0 };
}

/** Records a proof of `key` (`name:tag` or `name@digest`) on route `prefix`. */
export function prove(proof: MirrorProof, expected: ExpectedContent, prefix: string, key: string, bit = PROVEN): void {
  const at = expected.ordinal(prefix, key);
  if (at !== undefined) proof.proven[at]! |= bit;
}

export function isProven(proof: MirrorProof | undefined, expected: ExpectedContent, prefix: string, key: string, bit = PROVEN): boolean {
  const at = expected.ordinal(prefix, key);
  return proof !== undefined && at !== undefined && (proof.proven[at]! & bit) !== 0;
}

export interface AuditResult {
  startedAt: Date;
  finishedAt: Date;
  mirrors: string[];
  findings: AuditFinding[];
  proofs: Map<string, MirrorProof>;
  /** The expected content the proofs index into. */
  expected: ExpectedContent;
  requests: number;
  sampledBytes: number;
  /** Per mirror: watched keys (AuditOptions.watch) this pass found as expected, and when (epoch ms). */
  seen?: Map<string, Map<string, number>>;
  /** Mirrors whose ownership tokens this result checked (absent: all of `mirrors`, a full pass). */
  ownerChecked?: string[];
}

export interface AuditOptions {
  /** Audit only this mirror. */
  mirror?: string;
  requestsPerSecond: number;
  /** Bytes downloaded and hashed per mirror. */
  sampleBytes: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  signal?: AbortSignal;
  random?: () => number;
  /**
   * Availability-cache keys whose arrival on a mirror is being timed (freshness): when the audit
   * finds one as expected, it records when in `seen`. Asked only for tags, files and images.
   */
  watch?: (mirror: string, key: string) => boolean;
  /** Credentials for registry mirrors that want them (trust.credentials). */
  credentials?: CredentialLookup;
  /** The clock arrivals are stamped with (tests). */
  now?: () => number;
}

const ACCEPT = [...MANIFEST_MEDIA_TYPES, 'application/vnd.docker.distribution.manifest.v1+prettyjws'].join(', ');
const SIGNATURE_SUFFIXES = ['sig', 'att', 'sbom'];

/** Every mirror the audit covers: the mirrors of routes with expected content (origins excluded), or the one asked for. */
export function auditedMirrors(config: CompiledConfig, expected: ExpectedContent, only?: string): Map<string, { mirror: CompiledMirror; routes: CompiledRoute[] }> {
  const out = new Map<string, { mirror: CompiledMirror; routes: CompiledRoute[] }>();
  for (const route of [...config.ociRoutes, ...config.binaryRoutes]) {
    if (!expected.route(route.prefix)) continue;
    for (const mirror of routeMirrors(route)) {
      if (only !== undefined && mirror.name !== only) continue;
      const entry = out.get(mirror.name) ?? { mirror, routes: [] };
      entry.routes.push(route);
      out.set(mirror.name, entry);
    }
  }
  return out;
}

/** Paces requests to `perSecond`, shared by every worker. */
class Pacer {
  private next = 0;
  constructor(
    private readonly intervalMs: number,
    private readonly signal?: AbortSignal,
  ) {}
  async wait(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + this.intervalMs;
    if (at > now) await new Promise<void>((resolve) => setTimeout(resolve, at - now));
    this.signal?.throwIfAborted();
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Where the audit reads a route's manifests for its blob buckets: the origin, else the first registry of the default. */
function manifestSource(route: CompiledRoute): CompiledMirror | undefined {
  return route.origin ?? route.default.mirrors.find((m) => m.kind === 'registry');
}

/** What auditing one unit found: its findings, its proof bits, and when a watched key was seen. */
export interface UnitOutcome {
  findings: AuditFinding[];
  /** PROVEN / REFERRERS for the unit's ordinal (tags and images). */
  bits: number;
  /** Objects checked and found as expected. */
  verified: number;
  /** The watched key (AuditOptions.watch) this unit found as expected, and when (epoch ms). */
  seen?: { key: string; at: number };
}

/**
 * One object of the audit on one mirror: a file, a tag, an image (and all below it) or an
 * ownership token. Plain data sharing the expected content's strings (k8s.io's content on 20
 * mirrors is ~840,000 units); the plan runs it (AuditPlan.run).
 */
export interface AuditUnit {
  mirror: string;
  route: CompiledRoute;
  kind: 'file' | 'image' | 'tag' | 'owner';
  /** file: its name below the route; image, tag: the repository name; owner: the destination path below the root ('' for file mirrors). */
  name: string;
  /** file: its sha256; image: its digest; tag: the tag; owner: ''. */
  ref: string;
  /** tag: the digest it must point at. */
  promoted?: string;
  /** The proof ordinal it proves (tags and image digests), else -1. */
  ordinal: number;
}

/** What the unit is about, for people (as findings name it). */
export function unitObject(u: AuditUnit): string {
  if (u.kind === 'file') return `${u.route.prefix === '/' ? '' : u.route.prefix}/${u.name}`;
  if (u.kind === 'image') return `${u.name}@${u.ref}`;
  if (u.kind === 'tag') return `${u.name}:${u.ref}`;
  return `owner${u.name ? ` ${u.name}` : ''}`;
}

/** Stable across reloads of the same content. A tag's names the digest it must point at: a moved tag (rollback) is new content, audited first, its old proof void. */
export function unitId(u: AuditUnit): string {
  return `${u.mirror}\n${u.route.prefix}\n${u.kind} ${unitObject(u)}${u.promoted ? ` -> ${u.promoted}` : ''}`;
}

/**
 * The audit of some expected content, cut into units: a full pass (runAudit, the CLI) runs them
 * all; serve's scrubber (src/trust/scrubber.ts) runs them in slices and applies each slice's
 * outcomes at once. One pacer for all, so the mirrors see the configured rate either way.
 */
export interface AuditPlan {
  mirrors: string[];
  units: AuditUnit[];
  expected: ExpectedContent;
  /** A new cycle: each mirror's sample budget refills and the origin's signature sets are asked again. */
  newCycle(): void;
  /** Audits one unit; throws only when the audit is aborted. */
  run(unit: AuditUnit): Promise<UnitOutcome>;
  counters: { requests: number; sampledBytes: number };
}

/**
 * Runs units from `units[start]` on, `concurrency` at once, taking the next only while
 * `keepTaking()` (the first is always taken). Returns the outcomes, in the order taken, and where
 * it stopped.
 */
export async function runUnits(plan: AuditPlan, units: readonly AuditUnit[], start: number, concurrency: number, keepTaking: () => boolean = () => true): Promise<{ outcomes: [AuditUnit, UnitOutcome][]; next: number }> {
  const outcomes: [AuditUnit, UnitOutcome][] = [];
  let i = start;
  const worker = async () => {
    while (i < units.length && (i === start || keepTaking())) {
      const unit = units[i++]!;
      outcomes.push([unit, await plan.run(unit)]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, units.length - start)) }, worker));
  return { outcomes, next: i };
}

/** A full pass: every unit of the plan (in random order, so the byte budget samples at random). */
export async function runAudit(config: CompiledConfig, expected: ExpectedContent, opts: AuditOptions): Promise<AuditResult> {
  const startedAt = new Date();
  const plan = planAudit(config, expected, opts);
  plan.newCycle();
  const { outcomes } = await runUnits(plan, shuffle([...plan.units], opts.random ?? Math.random), 0, opts.concurrency ?? 8);
  const findings: AuditFinding[] = [];
  const proofs = new Map(plan.mirrors.map((m) => [m, newProof(expected)]));
  const arrivals = new Map<string, Map<string, number>>();
  for (const [unit, outcome] of outcomes) {
    findings.push(...outcome.findings);
    const proof = proofs.get(unit.mirror)!;
    if (unit.ordinal >= 0) proof.proven[unit.ordinal] = outcome.bits;
    proof.verified += outcome.verified;
    if (outcome.seen) arrivals.set(unit.mirror, (arrivals.get(unit.mirror) ?? new Map<string, number>()).set(outcome.seen.key, outcome.seen.at));
  }
  sortFindings(findings);
  return { startedAt, finishedAt: new Date(), mirrors: plan.mirrors, findings, proofs, expected, requests: plan.counters.requests, sampledBytes: plan.counters.sampledBytes, seen: arrivals };
}

export function sortFindings(findings: AuditFinding[]): void {
  findings.sort((a, b) => a.mirror.localeCompare(b.mirror) || a.object.localeCompare(b.object) || a.problem.localeCompare(b.problem));
}

export function planAudit(config: CompiledConfig, expected: ExpectedContent, opts: AuditOptions): AuditPlan {
  // Registry mirrors that want credentials get them as the promoter's client would; without any, a 401 is a finding that says so.
  const fetchFn = authorizingFetch(opts.credentials ?? (() => undefined), opts.fetch ?? fetch);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pacer = new Pacer(1000 / opts.requestsPerSecond, opts.signal);
  const counters = { requests: 0, sampledBytes: 0 };
  const mirrors = auditedMirrors(config, expected, opts.mirror);
  const cycleStarts: (() => void)[] = [];

  const request = async (url: string, method: 'GET' | 'HEAD', accept?: string): Promise<Response> => {
    await pacer.wait();
    counters.requests++;
    const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    return fetchFn(url, { method, headers: accept ? { accept } : {}, redirect: method === 'HEAD' ? 'manual' : 'follow', signal });
  };
  /** A source's (the origin's) signature tags and referrers per manifest, asked once per cycle for every mirror. */
  const originSets = new Map<string, Promise<{ tags: Map<string, string>; referrers?: Set<string> }>>();
  cycleStarts.push(() => originSets.clear());

  const units: AuditUnit[] = [];
  /** Per mirror: runs a unit of it (its closures hold the mirror's byte budget). */
  const checkers = new Map<string, (unit: AuditUnit) => Promise<UnitOutcome>>();
  for (const { mirror, routes } of mirrors.values()) {
    const arrived = (o: UnitOutcome, key: string): void => {
      if (opts.watch?.(mirror.name, key)) o.seen = { key, at: (opts.now ?? Date.now)() };
    };
    let budget = opts.sampleBytes;
    cycleStarts.push(() => {
      budget = opts.sampleBytes;
    });
    const report = (o: UnitOutcome, object: string, problem: string, scope: AuditFinding['scope'], key?: string): void => void o.findings.push({ mirror: mirror.name, object, problem, scope, ...(key && { key }) });
    const reportFinding = report;
    /** Takes `size` bytes from the budget if they fit; the sample is random (units are shuffled). */
    const sample = (size: number): boolean => {
      if (size > budget) return false;
      budget -= size;
      return true;
    };

    const ordinalOf = (route: CompiledRoute, key: string) => expected.ordinal(route.prefix, key) ?? -1;
    for (const route of routes) {
      const want = expected.route(route.prefix)!;
      if (config.trust?.ownershipKey) {
        if (mirror.kind !== 'registry') {
          if (config.trust.destinations.has(mirror.name)) units.push({ mirror: mirror.name, route, kind: 'owner', name: '', ref: '', ordinal: -1 });
        } else for (const prefix of want.imagePrefixes) units.push({ mirror: mirror.name, route, kind: 'owner', name: prefix, ref: '', ordinal: -1 });
      }
      if (route.type === 'binary') {
        for (const [name, sha256] of want.files) units.push({ mirror: mirror.name, route, kind: 'file', name, ref: sha256, ordinal: -1 });
        continue;
      }
      // A blob bucket holds blobs only: it is audited for the blobs of each image, not its tags.
      if (mirror.kind === 'blobs' && !manifestSource(route)) continue;
      for (const [name, image] of want.images) {
        for (const digest of image.digests) units.push({ mirror: mirror.name, route, kind: 'image', name, ref: digest, ordinal: ordinalOf(route, `${name}@${digest}`) });
        if (mirror.kind !== 'blobs') {
          for (const [tag, digest] of image.tags) units.push({ mirror: mirror.name, route, kind: 'tag', name, ref: tag, promoted: digest, ordinal: ordinalOf(route, `${name}:${tag}`) });
        }
      }
    }

    checkers.set(mirror.name, async (u: AuditUnit): Promise<UnitOutcome> => {
      const o: UnitOutcome = { findings: [], bits: 0, verified: 0 };
      try {
        if (u.kind === 'file') await checkFile(o, u.route, u.name, u.ref);
        else if (u.kind === 'image') await checkImage(o, u.route, u.name, u.ref);
        else if (u.kind === 'tag') await checkTag(o, u.name, u.ref, u.promoted!);
        else await checkOwner(o, u.name);
      } catch (error) {
        if (opts.signal?.aborted) throw error;
        report(o, unitObject(u), `check failed: ${errorMessage(error)}`, 'object');
      }
      return o;
    });

    async function checkOwner(o: UnitOutcome, prefix: string): Promise<void> {
      const key = config.trust!.ownershipKey!;
      const destination = mirror.kind === 'registry' ? registryDestination(mirror, prefix) : config.trust!.destinations.get(mirror.name)!;
      await pacer.wait();
      counters.requests++;
      const problem = tokenProblem(key, destination, await readToken(mirror, prefix, fetchFn, timeoutMs));
      if (problem) report(o, `owner${prefix ? ` ${prefix}` : ''}`, problem, 'mirror');
    }

    const registryRepoUrl = (registry: CompiledMirror, name: string) => `${registry.base}/v2/${registry.repository ? `${registry.repository}/` : ''}${name}`;
    const repoUrl = (name: string) => registryRepoUrl(mirror, name);
    const blobUrlOf = (name: string, digest: string) => (mirror.kind === 'blobs' ? blobUrl(mirror, digest) : `${repoUrl(name)}/blobs/${digest}`);

    async function checkFile(o: UnitOutcome, route: CompiledRoute, name: string, sha256: string): Promise<void> {
      const path = `${route.prefix === '/' ? '' : route.prefix}/${name}`;
      const key = `file:${path}`;
      const url = route.keepPrefix ? `${mirror.base}${path}` : `${mirror.base}/${name}`;
      const head = await request(url, 'HEAD');
      if (head.status === 404 || head.status === 410) return report(o, path, 'missing', 'object', key);
      if (!head.ok) return report(o, path, `HEAD: HTTP ${head.status}`, 'object', key);
      const amz = head.headers.get('x-amz-checksum-sha256');
      if (amz && Buffer.from(amz, 'base64').toString('hex') !== sha256) return report(o, path, `x-amz-checksum-sha256 differs from the promoted sha256 ${sha256}`, 'mirror', key);
      const size = Number(head.headers.get('content-length') ?? Number.NaN);
      if (Number.isSafeInteger(size) && sample(size)) {
        const got = await hashOf(await request(url, 'GET'));
        counters.sampledBytes += got.bytes;
        if (got.hex !== sha256) return report(o, path, `bytes differ: sha256 ${got.hex}, promoted ${sha256}`, 'mirror', key);
      }
      o.verified++;
      arrived(o, key);
    }

    async function checkTag(o: UnitOutcome, name: string, tag: string, digest: string): Promise<void> {
      const key = `manifest:${name}:${tag}`;
      const head = await request(`${repoUrl(name)}/manifests/${tag}`, 'HEAD', ACCEPT);
      if (head.status === 404) return report(o, `${name}:${tag}`, 'tag missing', 'object', key);
      if (!head.ok) return report(o, `${name}:${tag}`, `HEAD: HTTP ${head.status}`, 'object', key);
      const seen = head.headers.get('docker-content-digest');
      if (seen && seen !== digest) return report(o, `${name}:${tag}`, `tag points at ${seen}, promoted ${digest}`, 'object', key);
      if (seen) o.bits |= PROVEN;
      o.verified++;
      arrived(o, key);
    }

    /** Checks a manifest by digest and everything below it; returns false when it is missing or wrong. */
    /** `source`: where manifests are read; for a blob bucket, the route's registry (its blobs are read from the bucket). */
    async function checkManifest(o: UnitOutcome, name: string, digest: string, seen: Set<string>, source: CompiledMirror): Promise<boolean> {
      if (seen.has(digest)) return true;
      seen.add(digest);
      const key = `manifest:${name}:${digest}`;
      // For a blob bucket the manifest is another mirror's: its problems are not the bucket's.
      const report: typeof reportFinding = mirror.kind === 'blobs' ? () => undefined : reportFinding;
      const response = await request(`${registryRepoUrl(source, name)}/manifests/${digest}`, 'GET', ACCEPT);
      if (response.status === 404) {
        await response.body?.cancel();
        report(o, `${name}@${digest}`, 'missing', 'object', key);
        return false;
      }
      if (!response.ok) {
        await response.body?.cancel();
        report(o, `${name}@${digest}`, `GET: HTTP ${response.status}`, 'object', key);
        return false;
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      const hashed = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (hashed !== digest) {
        report(o, `${name}@${digest}`, `digest differs: the manifest's bytes hash to ${hashed}`, 'mirror', key);
        return false;
      }
      const header = response.headers.get('docker-content-digest');
      if (header && header !== digest) {
        report(o, `${name}@${digest}`, `Docker-Content-Digest says ${header}`, 'mirror', key);
        return false;
      }
      o.verified++;
      let parsed: { manifests?: { digest: string }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
      try {
        parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
      } catch {
        return true;
      }
      let complete = true;
      for (const child of parsed.manifests ?? []) if (!(await checkManifest(o, name, child.digest, seen, source))) complete = false;
      for (const blob of [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])]) if (!(await checkBlob(o, name, blob))) complete = false;
      return complete;
    }

    async function checkBlob(o: UnitOutcome, name: string, blob: { digest: string; size: number }): Promise<boolean> {
      const key = `blob:${name}@${blob.digest}`;
      const object = `${name}@${blob.digest}`;
      const url = blobUrlOf(name, blob.digest);
      const head = await request(url, 'HEAD');
      await head.body?.cancel();
      if (head.status === 404) {
        report(o, object, 'blob missing', 'object', key);
        return false;
      }
      const redirected = head.status >= 300 && head.status < 400 && head.headers.get('location');
      if (!head.ok && !redirected) {
        report(o, object, `blob HEAD: HTTP ${head.status}`, 'object', key);
        return false;
      }
      if (head.ok) {
        const length = Number(head.headers.get('content-length') ?? Number.NaN);
        if (Number.isSafeInteger(length) && length !== blob.size) {
          report(o, object, `size differs: ${length} bytes, the manifest says ${blob.size}`, 'mirror', key);
          return false;
        }
        const header = head.headers.get('docker-content-digest');
        if (header && header !== blob.digest) {
          report(o, object, `Docker-Content-Digest says ${header}`, 'mirror', key);
          return false;
        }
      }
      if (sample(blob.size)) {
        const got = await hashOf(await request(url, 'GET'));
        counters.sampledBytes += got.bytes;
        if (`sha256:${got.hex}` !== blob.digest) {
          report(o, object, `bytes differ: they hash to sha256:${got.hex}`, 'mirror', key);
          return false;
        }
      }
      o.verified++;
      return true;
    }

    async function checkImage(o: UnitOutcome, route: CompiledRoute, name: string, digest: string): Promise<void> {
      const seen = new Set<string>();
      const source = mirror.kind === 'blobs' ? manifestSource(route)! : mirror;
      let complete = await checkManifest(o, name, digest, seen, source);
      if (mirror.kind === 'blobs') complete = (await checkArtifactBlobs(o, name, seen, source)) && complete;
      if (complete) arrived(o, `manifest:${name}:${digest}`);
      if (!complete || !route.origin || mirror.kind === 'blobs') return;
      // Signatures, attestations, SBOMs and referrers: the origin's set must be here too.
      const want = await signatureSetOf(route.origin, name, digest);
      let ok = true;
      for (const [tag, wantDigest] of want.tags) {
        const head = await request(`${repoUrl(name)}/manifests/${tag}`, 'HEAD', ACCEPT);
        await head.body?.cancel();
        const got = head.ok ? head.headers.get('docker-content-digest') : undefined;
        if (head.status === 404) report(o, `${name}:${tag}`, `signature missing (the origin has it)`, 'object', `manifest:${name}:${tag}`);
        else if (!head.ok) report(o, `${name}:${tag}`, `signature HEAD: HTTP ${head.status}`, 'object', `manifest:${name}:${tag}`);
        else if (got && got !== wantDigest) report(o, `${name}:${tag}`, `signature differs: ${got}, the origin has ${wantDigest}`, 'object', `manifest:${name}:${tag}`);
        else continue;
        ok = false;
      }
      if (want.referrers) {
        // The origin answers the referrers API: the mirror's list must be the same set, so a
        // referrers request may go there (never an empty or partial list where the origin has entries).
        const response = await request(`${repoUrl(name)}/referrers/${digest}`, 'GET', 'application/vnd.oci.image.index.v1+json');
        const isIndex = response.ok && (response.headers.get('content-type') ?? '').includes('image.index');
        const have = isIndex ? new Set(((await response.json()) as { manifests?: { digest: string }[] }).manifests?.map((m) => m.digest) ?? []) : new Set<string>();
        if (!isIndex) await response.body?.cancel();
        const lacking = [...want.referrers].filter((d) => !have.has(d)).length;
        if (lacking > 0) {
          report(o, `${name}@${digest}`, `referrers incomplete: ${lacking} of the origin's ${want.referrers.size} missing`, 'object');
          ok = false;
        } else if (isIndex && have.size === want.referrers.size) o.bits |= REFERRERS;
      }
      if (ok) o.bits |= PROVEN;
    }

    /**
     * A blob bucket must hold what the promoter's blob-bucket destination copies with an image
     * (src/promoter/observe-blobs.ts): also the blobs of every signature, attestation and SBOM
     * (`sha256-<hex>.sig|.att|.sbom` tags) and referrer of each manifest walked (`seen`), found
     * on the manifest source, and theirs in turn. Returns false when one of them is not complete.
     */
    async function checkArtifactBlobs(o: UnitOutcome, name: string, seen: Set<string>, source: CompiledMirror): Promise<boolean> {
      let complete = true;
      const walked = new Set<string>();
      for (let next = [...seen]; next.length > 0; next = [...seen].filter((d) => !walked.has(d))) {
        for (const ref of next) {
          walked.add(ref);
          const set = await signatureSetOf(source, name, ref);
          for (const artifact of [...set.tags.values(), ...(set.referrers ?? [])]) if (!(await checkManifest(o, name, artifact, seen, source))) complete = false;
        }
      }
      return complete;
    }

    /** The signature tags and referrers `source` holds for one manifest, asked once per cycle. */
    function signatureSetOf(source: CompiledMirror, name: string, digest: string): Promise<{ tags: Map<string, string>; referrers?: Set<string> }> {
      const key = `${source.name}\n${name}@${digest}`;
      let set = originSets.get(key);
      if (!set) {
        set = signatureSet(source, name, digest);
        originSets.set(key, set);
      }
      return set;
    }

    async function signatureSet(origin: CompiledMirror, name: string, digest: string): Promise<{ tags: Map<string, string>; referrers?: Set<string> }> {
      const base = `${origin.base}/v2/${origin.repository ? `${origin.repository}/` : ''}${name}`;
      const tags = new Map<string, string>();
      for (const suffix of SIGNATURE_SUFFIXES) {
        const tag = `${digest.replace(':', '-')}.${suffix}`;
        const head = await request(`${base}/manifests/${tag}`, 'HEAD', ACCEPT);
        await head.body?.cancel();
        const got = head.headers.get('docker-content-digest');
        if (head.ok && got) tags.set(tag, got);
      }
      const response = await request(`${base}/referrers/${digest}`, 'GET', 'application/vnd.oci.image.index.v1+json');
      if (!response.ok || !(response.headers.get('content-type') ?? '').includes('image.index')) {
        await response.body?.cancel();
        return { tags };
      }
      const referrers = new Set(((await response.json()) as { manifests?: { digest: string }[] }).manifests?.map((m) => m.digest) ?? []);
      return { tags, referrers };
    }
  }

  return {
    mirrors: [...mirrors.keys()],
    units,
    expected,
    counters,
    newCycle: () => {
      for (const start of cycleStarts) start();
    },
    run: (unit) => checkers.get(unit.mirror)!(unit),
  };
}

async function hashOf(response: Response): Promise<{ hex: string; bytes: number }> {
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`download: HTTP ${response.status}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest('hex'), bytes };
}

export function formatFinding(f: AuditFinding): string {
  return `${f.mirror} ${f.object} ${f.problem}`;
}
