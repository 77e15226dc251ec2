// What registries send as JSON, checked before use: image manifests and indexes, tag lists,
// referrers indexes, token responses and error bodies. Small zod schemas that require what this
// code reads and pass through every other field (a descriptor copied into a new index keeps its
// platform and annotations, in their order). A body that does not fit is an error naming the URL
// and the field.
import { z } from 'zod';
import { RegistryError } from './client.js';
import { isValidDigest } from './reference.js';

const digest = z.string().refine(isValidDigest, 'not a digest (algorithm:hex)');

export const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** An image manifest or an index (OCI or Docker v2): the fields that name other content. */
export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2, 'must be 2 (schema 1 manifests are not supported)'),
  mediaType: z.string().optional(),
  config: descriptorSchema.optional(),
  layers: z.array(descriptorSchema).optional(),
  manifests: z.array(descriptorSchema).optional(),
  /** Artifact manifests of the OCI 1.1 draft. */
  blobs: z.array(descriptorSchema).optional(),
  subject: descriptorSchema.optional(),
});

/**
 * GET /v2/<name>/tags/list. A missing or null `tags` is an empty repository. Google Container
 * Registry and Artifact Registry add `manifest`: every manifest digest of the repository (tagged
 * or not) -> its tags (kpromo plans from it); other registries omit it.
 */
export const tagsListSchema = z.looseObject({
  name: z.string().optional(),
  tags: z.array(z.string()).nullish(),
  manifest: z.record(digest, z.looseObject({ tag: z.array(z.string()).nullish() })).optional(),
});

/** GET /v2/<name>/referrers/<digest>: an image index. */
export const referrersSchema = z.looseObject({
  manifests: z.array(descriptorSchema).optional(),
});

/** The token endpoint's answer (docker's token protocol: `token`, or OAuth2's `access_token`). */
export const tokenResponseSchema = z
  .looseObject({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().optional(),
  })
  .refine((t) => Boolean(t.token || t.access_token), 'has neither token nor access_token');

/** The distribution spec's error body. */
export const errorBodySchema = z.looseObject({
  errors: z.array(z.looseObject({ code: z.string(), message: z.string().optional() })).min(1),
});

export type ManifestJson = z.infer<typeof manifestSchema>;
export type DescriptorJson = z.infer<typeof descriptorSchema>;

/**
 * Parse `text` as JSON of `schema`. `where` names the request (e.g. `GET https://host/v2/x/tags/list`),
 * `what` the document; a failure is a RegistryError saying which field was wrong and how.
 */
export function parseRegistryJson<S extends z.ZodType>(schema: S, text: string | Buffer, where: string, what: string, status = 0): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text.toString());
  } catch (e) {
    throw new RegistryError(`${where}: ${what} is not JSON (${e instanceof Error ? e.message : String(e)})`, status);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new RegistryError(`${where}: ${what} is not valid: ${describeIssues(parsed.error)}`, status);
  // The document as sent, not zod's copy: that one reorders keys, and a descriptor copied into a
  // new index must serialise as it came (the schemas transform nothing, so both hold the same).
  return json as z.infer<S>;
}

/** The first few issues, each as `path: message` (`(top level)` for the document itself). */
function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => `${i.path.length > 0 ? formatPath(i.path) : '(top level)'}: ${i.message}`);
  const more = error.issues.length - shown.length;
  return `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** The error code of a distribution error body, or undefined when the body is not one. */
export function errorCode(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = errorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.errors[0]?.code : undefined;
}
