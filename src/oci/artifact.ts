// The small OCI artifacts this project keeps in registries (the promoter's ledger and lease, the
// ownership token): an empty config and either one data layer or the empty descriptor as the
// layer, as the OCI image spec's guidance for artifacts asks. One writer, so all three agree.
import { sha256Digest } from './client.js';
import type { BlobChecker, BlobUploader, ManifestPutter } from './registry.js';

const EMPTY = Buffer.from('{}');
const EMPTY_DESCRIPTOR = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY), size: EMPTY.length };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface ArtifactContent {
  artifactType: string;
  annotations?: Record<string, string>;
  /** The data the artifact carries; without it the layer is the empty descriptor. */
  layer?: { mediaType: string; bytes: Buffer };
}

/** Uploads the blobs the registry lacks, then puts the artifact's manifest under `tag`. */
export async function putArtifact(client: BlobChecker & BlobUploader & ManifestPutter, repo: string, tag: string, content: ArtifactContent): Promise<void> {
  if (!(await client.hasBlob(repo, EMPTY_DESCRIPTOR.digest))) await client.uploadBlob(repo, EMPTY_DESCRIPTOR.digest, EMPTY, EMPTY.length);
  let layer = EMPTY_DESCRIPTOR;
  if (content.layer) {
    const { mediaType, bytes } = content.layer;
    const digest = sha256Digest(bytes);
    if (!(await client.hasBlob(repo, digest))) await client.uploadBlob(repo, digest, bytes, bytes.length);
    layer = { mediaType, digest, size: bytes.length };
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: content.artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: [layer],
    ...(content.annotations && { annotations: content.annotations }),
  };
  await client.putManifest(repo, tag, { bytes: Buffer.from(JSON.stringify(manifest)), mediaType: OCI_MANIFEST });
}

/** One annotation of a manifest's JSON; throws as JSON.parse does on text that is not JSON. */
export function manifestAnnotation(manifest: Buffer | string, name: string): string | undefined {
  return (JSON.parse(manifest.toString()) as { annotations?: Record<string, string> }).annotations?.[name];
}
