// The ledger of an image destination, stored in that registry as a small OCI artifact: repository
// `<destination path>/artifact-serving-ledger`, tag `<project id>` ('/' as '--'), one layer
// holding the ledger JSON. Kept in production so any promoter run, anywhere, sees the same record.
import type { BlobChecker, BlobGetter, BlobUploader, ManifestGetter, ManifestPutter } from '../oci/registry.js';
import { putArtifact } from '../oci/artifact.js';
import { manifestSchema, parseRegistryJson } from '../oci/registry-json.js';
import { repoPath } from './load-images.js';

export const LEDGER_REPO = 'artifact-serving-ledger';
const LEDGER_TYPE = 'application/vnd.artifact-serving.ledger.v1+json';

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
  await putArtifact(client, repo, tag, { artifactType: LEDGER_TYPE, layer: { mediaType: LEDGER_TYPE, bytes: Buffer.from(text) } });
}
