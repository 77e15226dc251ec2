// Blob buckets (issue 13): a destination of an image project that holds no manifests, only the
// blobs (configs and layers) of every promoted image, keyed by digest in registry.k8s.io's layout
// `<base>/containers/images/sha256:<hex>`. The redirector's `blobs:` mirrors read exactly this
// layout, so clients in a cloud region fetch layer bytes from their region's bucket while
// manifests come from the registries. Named in `registries:` by a store URL instead of a
// registry: `file:///abs/path`, `s3://bucket[/prefix]` or `gs://bucket[/prefix]`.
import { baseProblem } from './stores/confine.js';

/** The object name (relative to the bucket base) of a blob, in registry.k8s.io's layout. */
export function blobKey(digest: string): string {
  return `containers/images/${digest}`;
}

/** The digest a blob key names, or undefined for any other name. */
export function digestOfBlobKey(name: string): string | undefined {
  const m = /^containers\/images\/(sha256:[a-f0-9]{64})$/.exec(name);
  return m?.[1];
}

/** A `registries:` name that is meant as a bucket: it has a URL scheme (registries have none). */
export function looksLikeBucket(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(name);
}

/** The store base of a bucket URL: the same URL with exactly one trailing slash. */
export function bucketBase(url: string): string {
  return `${url.replace(/\/+$/, '')}/`;
}

/** Why `url` is not a usable blob bucket URL, or undefined when it is. */
export function bucketUrlProblem(url: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1] ?? '';
  const expected = 'expected file:///absolute/path, s3://bucket[/prefix] or gs://bucket[/prefix]';
  if (scheme === 'file') {
    if (!url.startsWith('file:///')) return `a file:// bucket needs an absolute path and no host (file:///srv/blobs), ${expected}`;
  } else if (scheme === 's3' || scheme === 'gs') {
    const bucket = /^[a-z0-9]+:\/\/([^/]*)/.exec(url)?.[1] ?? '';
    // S3's and GCS's bucket naming rules (lower case, digits, dots, hyphens; GCS also underscores).
    const ok = scheme === 's3' ? /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/ : /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
    if (!ok.test(bucket)) return `"${bucket}" is not a valid ${scheme === 's3' ? 'S3' : 'GCS'} bucket name (3-63 lower-case letters, digits, dots or hyphens)`;
  } else {
    return `unsupported scheme "${scheme}://" for a blob bucket: ${expected}`;
  }
  if (/[?#]/.test(url)) return `a query or fragment is not part of a bucket location, ${expected}`;
  const why = baseProblem(url);
  return why ? `the path has ${why}` : undefined;
}
