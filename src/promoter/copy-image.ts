// Copy one image by digest between registries: children of an index first, then blobs (mounted
// when both repositories are on the same registry, or from another repository of the
// destination that got the blob in this run, else streamed; the destination verifies each
// digest), then the manifest itself, then its referrers (signatures, attestations) found via
// the referrers API or the `sha256-<hex>[.sig|.att|.sbom]` fallback tags.
//
// Retries are per request (the registry client retries each one) and, for a streamed blob that
// cannot be replayed, per blob (a fresh GET from staging and a fresh upload): never the whole
// image, which at a steady rate of transient failures would never get through.
import type { Descriptor, Manifest } from '../oci/client.js';
import type { Registry } from '../oci/registry.js';
import { manifestSchema, parseRegistryJson } from '../oci/registry-json.js';
import { RegistryError } from '../oci/client.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../net/retry.js';

export interface ImageCopy {
  src: Registry;
  srcRepo: string;
  dst: Registry;
  dstRepo: string;
  /** Manifests read from staging, by digest (shared across destinations of one project). */
  cache: Map<string, Promise<Manifest>>;
  /** Retries of one streamed blob transfer (default DEFAULT_RETRY). */
  retry?: RetryOptions;
  /**
   * Blobs placed in a repository of the destination registry in this run: digest -> the
   * repository (a promise while its upload runs). Another repository there mounts them instead
   * of streaming them again (shared by every copy to the same registry).
   */
  placed?: Map<string, Promise<string>>;
  /**
   * Staging's tags as listed while planning: a referrer fallback tag (`sha256-<hex>.sig` …) not
   * among them is not asked about (four HEADs per digest per destination were most of a small
   * image's requests). Without it every fallback tag is looked up.
   */
  stagingTags?: ReadonlySet<string>;
}

const FALLBACK_SUFFIXES = ['', '.sig', '.att', '.sbom'];
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export function sourceManifest(c: Pick<ImageCopy, 'src' | 'srcRepo' | 'cache'>, ref: string): Promise<Manifest> {
  let p = c.cache.get(ref);
  if (!p) {
    p = c.src.getManifest(c.srcRepo, ref).then((m) => {
      if (!m) throw new RegistryError(`${c.src.host}/${c.srcRepo}@${ref}: not found in staging`, 404);
      return m;
    });
    p.catch(() => c.cache.delete(ref)); // a failed read may be retried
    c.cache.set(ref, p);
  }
  return p;
}

export function references(m: Manifest): { children: Descriptor[]; blobs: Descriptor[] } {
  const json = parseRegistryJson(manifestSchema, m.bytes, `manifest ${m.digest}`, 'the manifest');
  return { children: (json.manifests ?? []) as Descriptor[], blobs: [...(json.config ? [json.config] : []), ...(json.layers ?? []), ...(json.blobs ?? [])] as Descriptor[] };
}

/** Copy a manifest and everything it references; with referrers of it and of its children. */
export async function copyImage(c: ImageCopy, digest: string): Promise<void> {
  const m = await copyManifest(c, digest);
  await copyReferrers(c, digest);
  for (const child of references(m).children) await copyReferrers(c, child.digest);
}

async function copyManifest(c: ImageCopy, digest: string): Promise<Manifest> {
  const m = await sourceManifest(c, digest);
  if (await c.dst.headManifest(c.dstRepo, digest)) return m;
  const { children, blobs } = references(m);
  for (const child of children) await copyManifest(c, child.digest);
  for (const blob of blobs) await copyBlob(c, blob);
  const written = await c.dst.putManifest(c.dstRepo, digest, m);
  if (written !== digest) throw new RegistryError(`${c.dst.host}/${c.dstRepo}: wrote ${written}, expected ${digest}`, 0);
  return m;
}

async function copyBlob(c: ImageCopy, blob: Descriptor): Promise<void> {
  if (await c.dst.hasBlob(c.dstRepo, blob.digest)) {
    if (!c.placed?.has(blob.digest)) c.placed?.set(blob.digest, Promise.resolve(c.dstRepo));
    return;
  }
  if (c.src.host === c.dst.host && (await c.dst.mountBlob(c.dstRepo, blob.digest, c.srcRepo))) return;
  // Already in (or on its way to) another repository of this registry: mount it from there.
  // Looked up and claimed in one step, so two repositories never both stream the same blob.
  const pending = c.placed?.get(blob.digest);
  if (!pending) {
    const upload = streamBlob(c, blob).then(() => c.dstRepo);
    c.placed?.set(blob.digest, upload);
    upload.catch(() => c.placed?.get(blob.digest) === upload && c.placed.delete(blob.digest));
    await upload;
    return;
  }
  const from = await pending.catch(() => undefined);
  if (from !== undefined && from !== c.dstRepo && (await c.dst.mountBlob(c.dstRepo, blob.digest, from))) return;
  await streamBlob(c, blob);
}

async function streamBlob(c: ImageCopy, blob: Descriptor): Promise<void> {
  await withRetry(async () => {
    const { body } = await c.src.getBlob(c.srcRepo, blob.digest);
    try {
      await c.dst.uploadBlob(c.dstRepo, blob.digest, body, blob.size);
    } catch (e) {
      await body.cancel().catch(() => undefined); // free the staging connection before retrying
      throw e;
    }
  }, c.retry ?? DEFAULT_RETRY);
}

/** Copy the referrers of a digest the destination already has (signatures pushed to staging later). */
export async function copyReferrers(c: ImageCopy, digest: string): Promise<void> {
  const viaApi = await c.src.referrers(c.srcRepo, digest);
  for (const r of viaApi ?? []) await copyManifest(c, r.digest);
  if (viaApi && viaApi.length > 0 && (await c.dst.referrers(c.dstRepo, digest)) === undefined) {
    // The destination cannot index referrers by subject: keep the OCI fallback tag's index instead.
    const tag = `sha256-${digest.slice('sha256:'.length)}`;
    const existing = await c.dst.getManifest(c.dstRepo, tag);
    const have: Descriptor[] = existing ? (references(existing).children ?? []) : [];
    const merged = [...have, ...viaApi.filter((r) => !have.some((h) => h.digest === r.digest))];
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: merged }));
    if (!existing?.bytes.equals(bytes)) await c.dst.putManifest(c.dstRepo, tag, { bytes, mediaType: OCI_INDEX });
  }
  // Tag-schema referrers (cosign's `.sig`, `.att`, `.sbom`; the OCI fallback index).
  for (const suffix of FALLBACK_SUFFIXES) {
    const tag = `sha256-${digest.slice('sha256:'.length)}${suffix}`;
    if (c.stagingTags && !c.stagingTags.has(tag)) continue;
    const head = await c.src.headManifest(c.srcRepo, tag);
    if (!head) continue;
    const m = await copyManifest(c, head.digest);
    const there = await c.dst.headManifest(c.dstRepo, tag);
    if (there?.digest !== head.digest) await c.dst.putManifest(c.dstRepo, tag, m);
  }
}
