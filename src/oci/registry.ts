// What the promoter asks of a registry, as one-method interfaces (the style of
// kubernetes/registry.k8s.io: a fake implements only what its test needs). RegistryClient
// implements them all over HTTP; test/promoter/memory-registry.ts does in memory.
import type { Readable } from 'node:stream';
import type { Descriptor, Manifest } from './client.js';

/** HEAD a manifest by tag or digest; undefined when it is not there. */
export interface ManifestHeader {
  headManifest(repo: string, ref: string): Promise<{ digest: string; mediaType: string; size: number } | undefined>;
}

/** GET a manifest by tag or digest, verified against a digest ref; undefined when it is not there. */
export interface ManifestGetter {
  getManifest(repo: string, ref: string): Promise<Manifest | undefined>;
}

/** PUT a manifest by tag or digest; returns its digest. */
export interface ManifestPutter {
  putManifest(repo: string, ref: string, m: { bytes: Buffer; mediaType: string }): Promise<string>;
}

/** DELETE a manifest by digest (or tag); false when it was not there. */
export interface ManifestDeleter {
  deleteManifest(repo: string, ref: string): Promise<boolean>;
}

/** HEAD a blob. */
export interface BlobChecker {
  hasBlob(repo: string, digest: string): Promise<boolean>;
}

/** GET a blob as a stream. */
export interface BlobGetter {
  getBlob(repo: string, digest: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }>;
}

/** Link a blob from another repository of the same registry; false when the registry would not. */
export interface BlobMounter {
  mountBlob(repo: string, digest: string, from: string): Promise<boolean>;
}

/** Upload a blob whose digest is known (the registry verifies it). */
export interface BlobUploader {
  uploadBlob(repo: string, digest: string, body: ReadableStream<Uint8Array> | Readable | Buffer, size: number): Promise<void>;
}

/** Every tag of a repository ([] when the repository does not exist). */
export interface TagLister {
  listTags(repo: string): Promise<string[]>;
}

/**
 * The tags list as sent: every tag, and, where the registry adds Google's `manifest` extension
 * (GCR, Artifact Registry), every manifest digest of the repository -> its tags.
 */
export interface TagsList {
  tags: string[];
  digests?: Map<string, string[]>;
}

/** The tags list with what the registry adds about digests ({ tags: [] } when the repository does not exist). */
export interface TagsListReader {
  tagsList(repo: string): Promise<TagsList>;
}

/** The referrers of a manifest, or undefined when the registry has no referrers API. */
export interface ReferrersLister {
  referrers(repo: string, digest: string): Promise<Descriptor[] | undefined>;
}

/** A registry, named by its host (and port), doing all of the above. */
export interface Registry extends ManifestHeader, ManifestGetter, ManifestPutter, ManifestDeleter, BlobChecker, BlobGetter, BlobMounter, BlobUploader, TagLister, TagsListReader, ReferrersLister {
  readonly host: string;
}
