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
import { MANIFEST_MEDIA_TYPES } from '../oci/reference.js';
import { errorMessage } from '../util/error-message.js';
import { routeMirrors } from './config.js';
import type { ExpectedContent, ExpectedRoute } from './expected.js';
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

/** Runs tasks with at most `limit` at once. */
async function pool(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < tasks.length) await tasks[i++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
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

export async function runAudit(config: CompiledConfig, expected: ExpectedContent, opts: AuditOptions): Promise<AuditResult> {
  const startedAt = new Date();
  const fetchFn = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const pacer = new Pacer(1000 / opts.requestsPerSecond, opts.signal);
  const findings: AuditFinding[] = [];
  const proofs = new Map<string, MirrorProof>();
  let requests = 0;
  let sampledBytes = 0;
  const mirrors = auditedMirrors(config, expected, opts.mirror);
  const arrivals = new Map<string, Map<string, number>>();

  const request = async (url: string, method: 'GET' | 'HEAD', accept?: string): Promise<Response> => {
    await pacer.wait();
    requests++;
    const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    return fetchFn(url, { method, headers: accept ? { accept } : {}, redirect: method === 'HEAD' ? 'manual' : 'follow', signal });
  };
  /** A source's (the origin's) signature tags and referrers per manifest, asked once per audit for every mirror. */
  const originSets = new Map<string, Promise<{ tags: Map<string, string>; referrers?: Set<string> }>>();

  const tasks: (() => Promise<void>)[] = [];
  for (const { mirror, routes } of mirrors.values()) {
    const proof = newProof(expected);
    proofs.set(mirror.name, proof);
    const arrived = (key: string): void => {
      if (!opts.watch?.(mirror.name, key)) return;
      const m = arrivals.get(mirror.name) ?? new Map<string, number>();
      arrivals.set(mirror.name, m.set(key, Date.now()));
    };
    let budget = opts.sampleBytes;
    const report = (object: string, problem: string, scope: AuditFinding['scope'], key?: string): void => void findings.push({ mirror: mirror.name, object, problem, scope, ...(key && { key }) });
    const reportFinding = report;
    const guarded = (object: string, work: () => Promise<void>) => async () => {
      try {
        await work();
      } catch (error) {
        if (opts.signal?.aborted) throw error;
        report(object, `check failed: ${errorMessage(error)}`, 'object');
      }
    };
    /** Takes `size` bytes from the budget if they fit; the sample is random (tasks are shuffled). */
    const sample = (size: number): boolean => {
      if (size > budget) return false;
      budget -= size;
      return true;
    };

    for (const route of routes) {
      const want = expected.route(route.prefix)!;
      if (config.trust?.ownershipKey) tasks.push(...ownershipTasks(mirror, want, config, report, guarded));
      if (route.type === 'binary') {
        for (const [name, sha256] of want.files) {
          tasks.push(guarded(`${route.prefix === '/' ? '' : route.prefix}/${name}`, () => checkFile(route, name, sha256)));
        }
        continue;
      }
      // A blob bucket holds blobs only: it is audited for the blobs of each image, not its tags.
      if (mirror.kind === 'blobs' && !manifestSource(route)) continue;
      for (const [name, image] of want.images) {
        for (const digest of image.digests) tasks.push(guarded(`${name}@${digest}`, () => checkImage(route, name, digest)));
        if (mirror.kind !== 'blobs') for (const [tag, digest] of image.tags) tasks.push(guarded(`${name}:${tag}`, () => checkTag(route, name, tag, digest)));
      }
    }

    const registryRepoUrl = (registry: CompiledMirror, name: string) => `${registry.base}/v2/${registry.repository ? `${registry.repository}/` : ''}${name}`;
    const repoUrl = (name: string) => registryRepoUrl(mirror, name);
    const blobUrlOf = (name: string, digest: string) => (mirror.kind === 'blobs' ? blobUrl(mirror, digest) : `${repoUrl(name)}/blobs/${digest}`);

    async function checkFile(route: CompiledRoute, name: string, sha256: string): Promise<void> {
      const path = `${route.prefix === '/' ? '' : route.prefix}/${name}`;
      const key = `file:${path}`;
      const url = route.keepPrefix ? `${mirror.base}${path}` : `${mirror.base}/${name}`;
      const head = await request(url, 'HEAD');
      if (head.status === 404 || head.status === 410) return report(path, 'missing', 'object', key);
      if (!head.ok) return report(path, `HEAD: HTTP ${head.status}`, 'object', key);
      const amz = head.headers.get('x-amz-checksum-sha256');
      if (amz && Buffer.from(amz, 'base64').toString('hex') !== sha256) return report(path, `x-amz-checksum-sha256 differs from the promoted sha256 ${sha256}`, 'mirror', key);
      const size = Number(head.headers.get('content-length') ?? Number.NaN);
      if (Number.isSafeInteger(size) && sample(size)) {
        const got = await hashOf(await request(url, 'GET'));
        sampledBytes += got.bytes;
        if (got.hex !== sha256) return report(path, `bytes differ: sha256 ${got.hex}, promoted ${sha256}`, 'mirror', key);
      }
      proof.verified++;
      arrived(key);
    }

    async function checkTag(route: CompiledRoute, name: string, tag: string, digest: string): Promise<void> {
      const key = `manifest:${name}:${tag}`;
      const head = await request(`${repoUrl(name)}/manifests/${tag}`, 'HEAD', ACCEPT);
      if (head.status === 404) return report(`${name}:${tag}`, 'tag missing', 'object', key);
      if (!head.ok) return report(`${name}:${tag}`, `HEAD: HTTP ${head.status}`, 'object', key);
      const seen = head.headers.get('docker-content-digest');
      if (seen && seen !== digest) return report(`${name}:${tag}`, `tag points at ${seen}, promoted ${digest}`, 'object', key);
      if (seen) prove(proof, expected, route.prefix, `${name}:${tag}`);
      proof.verified++;
      arrived(key);
    }

    /** Checks a manifest by digest and everything below it; returns false when it is missing or wrong. */
    /** `source`: where manifests are read; for a blob bucket, the route's registry (its blobs are read from the bucket). */
    async function checkManifest(name: string, digest: string, seen: Set<string>, source: CompiledMirror): Promise<boolean> {
      if (seen.has(digest)) return true;
      seen.add(digest);
      const key = `manifest:${name}:${digest}`;
      // For a blob bucket the manifest is another mirror's: its problems are not the bucket's.
      const report = mirror.kind === 'blobs' ? () => undefined : reportFinding;
      const response = await request(`${registryRepoUrl(source, name)}/manifests/${digest}`, 'GET', ACCEPT);
      if (response.status === 404) {
        await response.body?.cancel();
        report(`${name}@${digest}`, 'missing', 'object', key);
        return false;
      }
      if (!response.ok) {
        await response.body?.cancel();
        report(`${name}@${digest}`, `GET: HTTP ${response.status}`, 'object', key);
        return false;
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      const hashed = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (hashed !== digest) {
        report(`${name}@${digest}`, `digest differs: the manifest's bytes hash to ${hashed}`, 'mirror', key);
        return false;
      }
      const header = response.headers.get('docker-content-digest');
      if (header && header !== digest) {
        report(`${name}@${digest}`, `Docker-Content-Digest says ${header}`, 'mirror', key);
        return false;
      }
      proof.verified++;
      let parsed: { manifests?: { digest: string }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
      try {
        parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
      } catch {
        return true;
      }
      let complete = true;
      for (const child of parsed.manifests ?? []) if (!(await checkManifest(name, child.digest, seen, source))) complete = false;
      for (const blob of [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])]) if (!(await checkBlob(name, blob))) complete = false;
      return complete;
    }

    async function checkBlob(name: string, blob: { digest: string; size: number }): Promise<boolean> {
      const key = `blob:${name}@${blob.digest}`;
      const object = `${name}@${blob.digest}`;
      const url = blobUrlOf(name, blob.digest);
      const head = await request(url, 'HEAD');
      await head.body?.cancel();
      if (head.status === 404) {
        report(object, 'blob missing', 'object', key);
        return false;
      }
      const redirected = head.status >= 300 && head.status < 400 && head.headers.get('location');
      if (!head.ok && !redirected) {
        report(object, `blob HEAD: HTTP ${head.status}`, 'object', key);
        return false;
      }
      if (head.ok) {
        const length = Number(head.headers.get('content-length') ?? Number.NaN);
        if (Number.isSafeInteger(length) && length !== blob.size) {
          report(object, `size differs: ${length} bytes, the manifest says ${blob.size}`, 'mirror', key);
          return false;
        }
        const header = head.headers.get('docker-content-digest');
        if (header && header !== blob.digest) {
          report(object, `Docker-Content-Digest says ${header}`, 'mirror', key);
          return false;
        }
      }
      if (sample(blob.size)) {
        const got = await hashOf(await request(url, 'GET'));
        sampledBytes += got.bytes;
        if (`sha256:${got.hex}` !== blob.digest) {
          report(object, `bytes differ: they hash to sha256:${got.hex}`, 'mirror', key);
          return false;
        }
      }
      proof.verified++;
      return true;
    }

    async function checkImage(route: CompiledRoute, name: string, digest: string): Promise<void> {
      const seen = new Set<string>();
      const source = mirror.kind === 'blobs' ? manifestSource(route)! : mirror;
      let complete = await checkManifest(name, digest, seen, source);
      if (mirror.kind === 'blobs') complete = (await checkArtifactBlobs(name, seen, source)) && complete;
      if (complete) arrived(`manifest:${name}:${digest}`);
      if (!complete || !route.origin || mirror.kind === 'blobs') return;
      // Signatures, attestations, SBOMs and referrers: the origin's set must be here too.
      const want = await signatureSetOf(route.origin, name, digest);
      let ok = true;
      for (const [tag, wantDigest] of want.tags) {
        const head = await request(`${repoUrl(name)}/manifests/${tag}`, 'HEAD', ACCEPT);
        await head.body?.cancel();
        const got = head.ok ? head.headers.get('docker-content-digest') : undefined;
        if (head.status === 404) report(`${name}:${tag}`, `signature missing (the origin has it)`, 'object', `manifest:${name}:${tag}`);
        else if (!head.ok) report(`${name}:${tag}`, `signature HEAD: HTTP ${head.status}`, 'object', `manifest:${name}:${tag}`);
        else if (got && got !== wantDigest) report(`${name}:${tag}`, `signature differs: ${got}, the origin has ${wantDigest}`, 'object', `manifest:${name}:${tag}`);
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
          report(`${name}@${digest}`, `referrers incomplete: ${lacking} of the origin's ${want.referrers.size} missing`, 'object');
          ok = false;
        } else if (isIndex && have.size === want.referrers.size) prove(proof, expected, route.prefix, `${name}@${digest}`, REFERRERS);
      }
      if (ok) prove(proof, expected, route.prefix, `${name}@${digest}`);
    }

    /**
     * A blob bucket must hold what the promoter's blob-bucket destination copies with an image
     * (src/promoter/observe-blobs.ts): also the blobs of every signature, attestation and SBOM
     * (`sha256-<hex>.sig|.att|.sbom` tags) and referrer of each manifest walked (`seen`), found
     * on the manifest source, and theirs in turn. Returns false when one of them is not complete.
     */
    async function checkArtifactBlobs(name: string, seen: Set<string>, source: CompiledMirror): Promise<boolean> {
      let complete = true;
      const walked = new Set<string>();
      for (let next = [...seen]; next.length > 0; next = [...seen].filter((d) => !walked.has(d))) {
        for (const ref of next) {
          walked.add(ref);
          const set = await signatureSetOf(source, name, ref);
          for (const artifact of [...set.tags.values(), ...(set.referrers ?? [])]) if (!(await checkManifest(name, artifact, seen, source))) complete = false;
        }
      }
      return complete;
    }

    /** The signature tags and referrers `source` holds for one manifest, asked once per audit. */
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

  function ownershipTasks(
    mirror: CompiledMirror,
    want: ExpectedRoute,
    cfg: CompiledConfig,
    report: (object: string, problem: string, scope: AuditFinding['scope']) => void,
    guarded: (object: string, work: () => Promise<void>) => () => Promise<void>,
  ): (() => Promise<void>)[] {
    const key = cfg.trust!.ownershipKey!;
    if (mirror.kind !== 'registry') {
      const destination = cfg.trust!.destinations.get(mirror.name);
      if (!destination) return [];
      return [
        guarded('owner', async () => {
          await pacer.wait();
          requests++;
          const problem = tokenProblem(key, destination, await readToken(mirror, '', fetchFn, timeoutMs));
          if (problem) report('owner', problem, 'mirror');
        }),
      ];
    }
    return [...want.imagePrefixes].map((prefix) =>
      guarded(`owner${prefix ? ` ${prefix}` : ''}`, async () => {
        await pacer.wait();
        requests++;
        const problem = tokenProblem(key, registryDestination(mirror, prefix), await readToken(mirror, prefix, fetchFn, timeoutMs));
        if (problem) report(`owner${prefix ? ` ${prefix}` : ''}`, problem, 'mirror');
      }),
    );
  }

  await pool(shuffle(tasks, random), opts.concurrency ?? 8);
  findings.sort((a, b) => a.mirror.localeCompare(b.mirror) || a.object.localeCompare(b.object) || a.problem.localeCompare(b.problem));
  return { startedAt, finishedAt: new Date(), mirrors: [...mirrors.keys()], findings, proofs, expected, requests, sampledBytes, seen: arrivals };
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
