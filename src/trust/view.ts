// Routing by proof: what the decision asks of mirror trust, and the one function decide() calls.
// Read-only, synchronous, no I/O: the audit and the ownership checks fill the state behind it
// (src/trust/state.ts); decide() passes what it knows about the request and the mirror.
import type { Availability } from '../mirrors/state-view.js';

/** How far a mirror is behind production (issue 9, freshness), from the background audit. */
export interface Freshness {
  /** Promoted objects the last audit found missing on the mirror. */
  behind: number;
  /** Seconds since the oldest of them was promoted (or first found missing, without a ledger time). */
  oldestLagSeconds: number;
  /** Median of the recent measured lags (promotion to the audit seeing the object), when any. */
  medianLagSeconds?: number;
  lagsMeasured: number;
}

/** Where the background audit's cycle is (src/trust/scrubber.ts): for status.json and /metrics. */
export interface AuditProgress {
  /** Cycles started since serve started. */
  cycle: number;
  cycleStartedAt?: string;
  /** Units (a file, tag, image or ownership token on one mirror) audited this cycle, of `total`. */
  audited: number;
  total: number;
  /** Units a reload newly expects, waiting to go first. */
  newlyExpected: number;
  lastCycleFinishedAt?: string;
  lastCycleSeconds?: number;
}

export interface TrustView {
  /** Why the whole mirror is out (ownership token, altered bytes), or undefined. */
  mirrorProblem(mirror: string): string | undefined;
  /** The audit's finding for this object on this mirror (an availability-cache key), or undefined. */
  objectProblem(mirror: string, key: string): string | undefined;
  /** Whether a ledger marks the object (an availability-cache key) retiring: about to be deleted. */
  retiring(routePrefix: string, key: string): boolean;
  /** Whether the route has expected content (then tags and signatures need proof). */
  expects(routePrefix: string): boolean;
  /** The digest a tag must point at, when expected content names it. */
  promotedDigest(routePrefix: string, name: string, tag: string): string | undefined;
  /** The digest the last audit saw this tag point at on this mirror. */
  auditedTag(mirror: string, routePrefix: string, name: string, tag: string): string | undefined;
  /** Whether the last audit found the image's whole signature/attestation/referrer set on this mirror. */
  signaturesComplete(mirror: string, routePrefix: string, name: string, digest: string): boolean;
  /**
   * Whether the last audit found the mirror's referrers list for this image the same set as the
   * origin's: only then may a `/referrers/<digest>` request go there. Absent: never.
   */
  referrersComplete?(mirror: string, routePrefix: string, name: string, digest: string): boolean;
  /** How far the mirror is behind production; undefined until an audit has covered it. */
  freshness?(mirror: string): Freshness | undefined;
  /** The background audit's progress; undefined when serve runs none. */
  auditProgress?(): AuditProgress | undefined;
}

export interface TrustRequest {
  routePrefix: string;
  /** The route has an origin to fall back to: only then do tags and signatures need proof. */
  hasOrigin: boolean;
  kind: 'manifest' | 'blob' | 'tags' | 'referrers' | 'file';
  /** OCI repository name ('' for files). */
  name: string;
  reference?: string;
  /** The availability-cache key of the object, when it has one. */
  key?: string;
  /** What a mirror must have proven for this request: worked out once per request, on first use. */
  need?: Need;
}

type Need = { kind: 'none' } | { kind: 'tag'; tag: string; promoted: string } | { kind: 'signatures'; digest: string };

function needOf(view: TrustView, request: TrustRequest): Need {
  if (request.kind !== 'manifest' || !request.hasOrigin || !request.reference || request.reference.includes(':') || !view.expects(request.routePrefix)) return { kind: 'none' };
  const tag = request.reference;
  const signature = SIGNATURE_TAG.exec(tag);
  if (signature) return { kind: 'signatures', digest: `sha256:${signature[1]}` };
  const promoted = view.promotedDigest(request.routePrefix, request.name, tag);
  return promoted ? { kind: 'tag', tag, promoted } : { kind: 'none' };
}

/** cosign's tags for an image's signature, attestation and SBOM. */
export const SIGNATURE_TAG = /^sha256-([a-f0-9]{64})\.(?:sig|att|sbom)$/;

/**
 * Why `mirror` may not serve this request, or undefined when trust has nothing against it.
 * `known` is the cached availability answer for the object on the mirror, if any.
 */
export function distrust(view: TrustView | undefined, request: TrustRequest, mirror: string, known: Availability | undefined): string | undefined {
  if (!view) return undefined;
  const whole = view.mirrorProblem(mirror);
  if (whole) return `excluded: ${whole}`;
  if (request.key) {
    // The promoter is deleting it: a mirror may lose it mid-pull; the origin answers until it is gone.
    if (request.hasOrigin && view.retiring(request.routePrefix, request.key)) return 'retiring: the promoter is deleting it';
    const finding = view.objectProblem(mirror, request.key);
    if (finding) return `audit: ${finding}`;
  }
  request.need ??= needOf(view, request);
  const need = request.need;
  if (need.kind === 'none') return undefined;
  if (need.kind === 'signatures') {
    return view.signaturesComplete(mirror, request.routePrefix, request.name, need.digest) ? undefined : `signatures of ${need.digest.slice(0, 19)}… not proven complete here`;
  }
  const { tag, promoted } = need;
  const seen = (known?.state === 'present' ? known.digest : undefined) ?? view.auditedTag(mirror, request.routePrefix, request.name, tag);
  if (seen === promoted) return undefined;
  if (seen) return `tag points at ${seen.slice(0, 19)}… here, promoted ${promoted.slice(0, 19)}…`;
  return 'tag not proven to point at the promoted digest';
}
