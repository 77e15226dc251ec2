// The ownership token: proof that a mirror is one of ours, and which one. The promoter writes into
// each destination `{"destination": D, "mac": HMAC-SHA256(key, D)}`; the audit reads it back from
// the mirror and accepts it only when the MAC is right (nobody without the key can make one) and
// D is that mirror's own destination (a token copied from another mirror vouches for no other).
// A bucket or registry someone else registered under a configured name cannot hold one.
//
// Where it lives: files `<base>/.artifact-serving/owner.json`; registries the tag `owner` of
// `<destination path>/artifact-serving-ledger` (the ledger's repository), in an annotation.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CompiledMirror } from '../config/compiled.js';
import type { RegistryClient } from '../oci/client.js';
import { manifestAnnotation, putArtifact } from '../oci/artifact.js';
import { errorMessage } from '../util/error-message.js';

export const OWNER_FILE = '.artifact-serving/owner.json';
export const OWNER_REPO = 'artifact-serving-ledger';
export const OWNER_TAG = 'owner';
export const OWNER_ANNOTATION = 'dev.artifact-serving.owner';
/** The promoter reads its key from here (the redirector's config names its own variable). */
export const OWNERSHIP_KEY_ENV = 'ARTIFACT_OWNERSHIP_KEY';

/** One spelling per destination: no trailing slash. */
export function canonicalDestination(destination: string): string {
  return destination.replace(/\/+$/, '');
}

export function ownershipToken(key: string, destination: string): string {
  const d = canonicalDestination(destination);
  return JSON.stringify({ destination: d, mac: createHmac('sha256', key).update(d).digest('hex') });
}

/** Why `text` is not `destination`'s token under `key`, or undefined when it is. */
export function tokenProblem(key: string, destination: string, text: string | undefined): string | undefined {
  if (text === undefined) return 'ownership token missing';
  let parsed: { destination?: unknown; mac?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return 'ownership token is not JSON';
  }
  if (typeof parsed.destination !== 'string' || typeof parsed.mac !== 'string' || !/^[a-f0-9]{64}$/.test(parsed.mac)) return 'ownership token malformed';
  const want = createHmac('sha256', key).update(parsed.destination).digest();
  if (!timingSafeEqual(want, Buffer.from(parsed.mac, 'hex'))) return 'ownership token not made with our key';
  const d = canonicalDestination(destination);
  if (parsed.destination !== d) return `ownership token belongs to ${parsed.destination}, not ${d}`;
  return undefined;
}

// ---- the promoter's side

export function ownerRepo(destination: string): string {
  return `${canonicalDestination(destination).split('/').slice(1).join('/')}/${OWNER_REPO}`;
}

/** Writes the token into a registry destination unless it already holds it. */
export async function writeRegistryToken(client: RegistryClient, destination: string, key: string): Promise<void> {
  const token = ownershipToken(key, destination);
  const repo = ownerRepo(destination);
  const current = await client.getManifest(repo, OWNER_TAG);
  if (current && manifestAnnotation(current.bytes, OWNER_ANNOTATION) === token) return;
  await putArtifact(client, repo, OWNER_TAG, { artifactType: 'application/vnd.artifact-serving.owner.v1', annotations: { [OWNER_ANNOTATION]: token } });
}

/** Writes the token into a file destination unless it already holds it. */
export async function writeFileToken(store: { readText(name: string): Promise<string | undefined>; writeText(name: string, text: string): Promise<void> }, destination: string, key: string): Promise<void> {
  const token = ownershipToken(key, destination);
  if ((await store.readText(OWNER_FILE))?.trim() === token) return;
  await store.writeText(OWNER_FILE, `${token}\n`);
}

// ---- the audit's side

/** Where a mirror's token for one destination path (below its root) is read from. */
export function tokenUrl(mirror: CompiledMirror, prefix: string): string {
  // File servers and blob buckets hold it as a file at their base, as the promoter writes it.
  if (mirror.kind !== 'registry') return `${mirror.base}/${OWNER_FILE}`;
  const repo = [mirror.repository, prefix, OWNER_REPO].filter((p) => p !== '').join('/');
  return `${mirror.base}/v2/${repo}/manifests/${OWNER_TAG}`;
}

/** The destination a registry mirror is for one prefix: `host[:port]/repository/prefix`, as promoter manifests name it. */
export function registryDestination(mirror: CompiledMirror, prefix: string): string {
  return [new URL(mirror.base).host, mirror.repository, prefix].filter((p) => p !== '').join('/');
}

/** Reads a token from a mirror: its text, undefined when absent; throws when the mirror does not answer. */
export async function readToken(mirror: CompiledMirror, prefix: string, fetchFn: typeof fetch = fetch, timeoutMs = 10_000): Promise<string | undefined> {
  const url = tokenUrl(mirror, prefix);
  const headers: Record<string, string> = mirror.kind === 'registry' ? { accept: 'application/vnd.oci.image.manifest.v1+json' } : {};
  let res: Response;
  try {
    res = await fetchFn(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`cannot read ownership token: ${errorMessage(error)}`);
  }
  if (res.status === 404 || res.status === 403 || res.status === 401) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`cannot read ownership token: HTTP ${res.status}`);
  }
  const text = await res.text();
  if (mirror.kind !== 'registry') return text.trim();
  try {
    return manifestAnnotation(text, OWNER_ANNOTATION);
  } catch {
    return undefined;
  }
}
