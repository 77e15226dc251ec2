// The grammar of the OCI distribution spec (v1.1, "Definitions"), shared by the redirector
// (which validates every /v2/ path before redirecting) and the promoter (which validates
// manifests before planning). One place, so both reject exactly the same inputs.

/** A repository name: path components of lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`. */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const MAX_NAME_LENGTH = 255;

/** A tag: up to 128 characters, the first a word character. */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A digest: `algorithm:encoded`, per the image spec's descriptor grammar. */
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Registered algorithms have a fixed encoded form; an unregistered one passes the general grammar only. */
const REGISTERED_ALGORITHMS: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidDigest(digest: string): boolean {
  if (!DIGEST_RE.test(digest)) return false;
  const colon = digest.indexOf(':');
  const encodedForm = REGISTERED_ALGORITHMS[digest.slice(0, colon)];
  return encodedForm === undefined || encodedForm.test(digest.slice(colon + 1));
}

/** Manifest media types a client accepts: a registry answers 404 for a type the request does not name. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;
