// Where a blob mirror (a bucket or CDN, `blobs:` in the config) keeps a blob: `<base>/<layout>`
// with the digest put in. The promoter's blob-bucket destination writes the same layout, so the
// redirector, the audit and the fill job agree on one key per digest.
import type { CompiledMirror } from '../config/compiled.js';

/** registry.k8s.io's layout: `containers/images/sha256:<hex>`. */
export const DEFAULT_BLOB_LAYOUT = 'containers/images/{digest}';

/** The layout's path for one digest (`algorithm:hex`, already checked by the caller). */
export function blobPath(layout: string, digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  return layout.replace(/\{(digest|algorithm|hex)\}/g, (_, name: string) => (name === 'digest' ? digest : name === 'algorithm' ? algorithm : hex));
}

/** The URL of a blob on a blob mirror. */
export function blobUrl(mirror: Pick<CompiledMirror, 'base' | 'layout'>, digest: string): string {
  return `${mirror.base}/${blobPath(mirror.layout ?? DEFAULT_BLOB_LAYOUT, digest)}`;
}
