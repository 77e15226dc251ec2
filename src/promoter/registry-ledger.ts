// The ledger of an image destination, stored in that registry as a small OCI artifact: repository
// `<destination path>/artifact-serving-ledger`, tag `<project id>` ('/' as '--'), one layer
// holding the ledger JSON. Kept in production so any promoter run, anywhere, sees the same record.
import type { BlobChecker, BlobGetter, BlobUploader, ManifestGetter, ManifestPutter } from '../oci/registry.js';
import { sha256Digest } from '../oci/client.js';
import { manifestSchema, parseRegistryJson } from '../oci/registry-json.js';
import { repoPath } from './load-images.js';

export const LEDGER_REPO = 'artifact-serving-ledger';
const LEDGER_TYPE = 'application/vnd.artifact-serving.ledger.v1+json';
const EMPTY = Buffer.from('{}');
const EMPTY_DESC = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY), size: EMPTY.length };

function ledgerLocation(destination: string, projectId: string): { repo: string; tag: string } {
  return { repo: `${repoPath(destination)}/${LEDGER_REPO}`, tag: projectId.replace(/\//g, '--') };
}

export async function readRegistryLedger(client: ManifestGetter & BlobGetter & { readonly host: string }, destination: string, projectId: string): Promise<string | undefined> {
  const { repo, tag } = ledgerLocation(destination, projectId);
  const m = await client.getManifest(repo, tag);
  if (!m) return undefined;
  const layer = parseRegistryJson(manifestSchema, m.bytes, `${client.host}/${repo}:${tag}`, 'the ledger manifest').layers?.[0];
  if (!layer) throw new Error(`${client.host}/${repo}:${tag}: ledger manifest has no layer`);
  const { body } = await client.getBlob(repo, layer.digest);
  return new Response(body).text();
}

export async function writeRegistryLedger(client: BlobChecker & BlobUploader & ManifestPutter, destination: string, projectId: string, text: string): Promise<void> {
  const { repo, tag } = ledgerLocation(destination, projectId);
  const bytes = Buffer.from(text);
  const digest = sha256Digest(bytes);
  if (!(await client.hasBlob(repo, EMPTY_DESC.digest))) await client.uploadBlob(repo, EMPTY_DESC.digest, EMPTY, EMPTY.length);
  if (!(await client.hasBlob(repo, digest))) await client.uploadBlob(repo, digest, bytes, bytes.length);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: LEDGER_TYPE,
    config: EMPTY_DESC,
    layers: [{ mediaType: LEDGER_TYPE, digest, size: bytes.length }],
  };
  await client.putManifest(repo, tag, { bytes: Buffer.from(JSON.stringify(manifest)), mediaType: manifest.mediaType });
}
