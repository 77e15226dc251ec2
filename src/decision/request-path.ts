// What a request path asks for, checked against the OCI distribution grammar and against
// traversal tricks before any of it is put into a redirect. Nothing here trusts the client.
import { isValidDigest, isValidName, isValidTag } from '../oci/reference.js';

export const MAX_PATH_LENGTH = 2048;

export type OciKind = 'manifest' | 'blob' | 'tags' | 'referrers';

export type OciRequest = { kind: 'base' } | { kind: 'catalog' } | { kind: OciKind; name: string; reference?: string /** Path after the name, e.g. `manifests/v1`. */; tail: string };

export type PathError = { status: number; code: string; message: string };

const SECTIONS: Record<string, OciKind> = { manifests: 'manifest', blobs: 'blob', referrers: 'referrers' };
const TAGS_LIST = '/tags/list';

export function parseOciPath(path: string): OciRequest | PathError {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  if (path === '/v2/_catalog') return { status: 404, code: 'UNSUPPORTED', message: 'this redirector does not list repositories (/v2/_catalog); ask the mirror registries directly' };
  if (path.endsWith(TAGS_LIST) && path.length > 4 + TAGS_LIST.length) {
    const name = path.slice(4, -TAGS_LIST.length);
    return checkedName(name, { kind: 'tags', name, tail: 'tags/list' });
  }
  // /v2/<name>/<section>/<reference>: the name may hold slashes, the last two parts cannot.
  const last = path.lastIndexOf('/');
  const previous = path.lastIndexOf('/', last - 1);
  const section = path.slice(previous + 1, last);
  const kind = previous > 4 ? SECTIONS[section] : undefined;
  const reference = path.slice(last + 1);
  if (!kind || reference === '') return { status: 404, code: 'NAME_UNKNOWN', message: `no such registry endpoint: ${path}` };
  const name = path.slice(4, previous);
  const request = { kind, name, reference, tail: `${section}/${reference}` };
  if (kind === 'manifest' && !reference.includes(':')) {
    if (!isValidTag(reference)) return { status: 400, code: 'MANIFEST_INVALID', message: `invalid tag "${truncate(reference)}": tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -` };
  } else if (!isValidDigest(reference)) {
    return { status: 400, code: 'DIGEST_INVALID', message: `invalid digest "${truncate(reference)}": expected algorithm:hex, e.g. sha256: and 64 hex digits` };
  }
  return checkedName(name, request);
}

function checkedName<T extends OciRequest>(name: string, request: T): T | PathError {
  if (!isValidName(name)) {
    return { status: 400, code: 'NAME_INVALID', message: `invalid repository name "${truncate(name)}": lowercase components [a-z0-9] joined by . _ __ or -, separated by /, at most 255 characters` };
  }
  return request;
}

/**
 * A binary path is safe to append to a mirror's base URL when no segment can climb out of it
 * or be read differently by the mirror than by us: no `.`/`..` (also percent-encoded), no
 * encoded slash or backslash, no NUL or control characters, no empty segments.
 */
/** Anything that could be a trick: percent signs, backslashes, control characters, dot segments, empty segments. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const SUSPICIOUS = /[%\\\u0000-\u001f\u007f]|\/\.|\/\/|\/$/;

export function checkBinaryPath(path: string): PathError | undefined {
  // Nearly every real path is plain: one regex clears it without decoding segment by segment.
  if (!SUSPICIOUS.test(path)) return undefined;
  const bad = (why: string): PathError => ({ status: 400, code: 'PATH_INVALID', message: `invalid path: ${why}` });
  if (path.includes('\\')) return bad('backslashes are not allowed');
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return bad('empty path segments (//) are not allowed');
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return bad('malformed percent-encoding');
    }
    if (decoded === '.' || decoded === '..') return bad('. and .. segments are not allowed');
    if (/[/\\]/.test(decoded)) return bad('encoded slashes or backslashes are not allowed');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
    if (/[\u0000-\u001f\u007f]/.test(decoded)) return bad('control characters are not allowed');
  }
  return undefined;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
