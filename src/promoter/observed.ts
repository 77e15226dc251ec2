// A snapshot of what staging and production hold, as far as the manifests care. The observer
// (observe.ts) fills it from real backends; tests and the bench build it in memory. The planner
// reads only this, so planning is a pure function of (manifests, snapshot).
import type { Ledger } from './ledger.js';
import type { DownEndpoint } from './observe-reach.js';

export interface RepoState {
  /** tag -> digest, for the tags asked about (or all, when listing was cheap). */
  tags: Map<string, string>;
  /** Manifest digests known to be present. */
  digests: Set<string>;
  /**
   * Every tag of the repository, when it was listed (destinations, and staging): used to find
   * signature, attestation and SBOM tags (`sha256-<hex>[.sig|.att|.sbom]`) a destination lacks.
   */
  listed?: Set<string>;
  /**
   * Staging only: subject digest -> digests of its referrers as the OCI referrers API lists them,
   * for the promoted digests and their children (absent when the registry has no referrers API).
   */
  referrers?: Map<string, string[]>;
}

export interface FileState {
  size: number;
  /**
   * The content's sha256, known only when it was hashed or the store itself computed and verified
   * it (S3's x-amz-checksum-sha256). Never just metadata someone could set: see `claimedSha256`.
   */
  sha256?: string;
  /** A sha256 recorded as object metadata at write time: anyone writing the object can set it. */
  claimedSha256?: string;
  /**
   * A fingerprint of the content the store computed itself (S3's single-part ETag, GCS's md5Hash),
   * with the size. It changes when the content does, so it proves the object is still what this
   * promoter wrote and verified, when it matches the fingerprint recorded in the ledger.
   */
  fingerprint?: string;
}

export interface Observed {
  /** registry location (e.g. `gcr.io/k8s-staging-x`) -> image name -> state */
  registries: Map<string, Map<string, RepoState>>;
  /** filestore base (with trailing slash) -> file name -> state */
  filestores: Map<string, Map<string, FileState>>;
  /** ledgerKey(project id, destination) -> ledger; absent means an empty ledger. */
  ledgers: Map<string, Ledger>;
  /** digest -> bytes of the manifest, its children and their blobs, as read from staging. */
  imageBytes: Map<string, number>;
  /** Index digest -> its child manifest digests, read when referrers of children must be checked. */
  children?: Map<string, string[]>;
  /**
   * ledgerKey -> production objects another tool wrote that this observation downloaded and
   * hashed, with their fingerprints: a confirmed run records them in the ledger (Ledger.hashed).
   */
  hashed?: Map<string, Map<string, { sha256: string; fingerprint: string }>>;
  /** Locations that could not be read, and why: planning there is an error, not "nothing to do". */
  unreachable: Map<string, string>;
  /** Endpoints (registry host, bucket) a connection could not be made to, marked once per run. */
  down?: Map<string, DownEndpoint>;
  /** For blob buckets (issue 13): what staging says each promoted digest needs. */
  blobs?: BlobClosures;
}

export interface BlobClosures {
  /** stagingKey(source, promoted digest) -> blob digest -> size: every blob reachable from it in staging (absent: not in staging). */
  closures: Map<string, Map<string, number>>;
  /** stagingKey(source, blob digest) -> a staging image name (repository below the source) it can be read from. */
  sourceName: Map<string, string>;
}

/** Keys of BlobClosures: a digest in one staging registry location. */
export function stagingKey(source: string, digest: string): string {
  return `${source}\n${digest}`;
}

export function emptyObserved(): Observed {
  return { registries: new Map(), filestores: new Map(), ledgers: new Map(), imageBytes: new Map(), unreachable: new Map() };
}

export function emptyRepo(): RepoState {
  return { tags: new Map(), digests: new Set() };
}
