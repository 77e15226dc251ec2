// Which staging area a project may promote out of. A project owns a directory of manifests named
// after its staging area (kpromo's convention: `k8s-staging-kops`), so by default the source
// registry or filestore must have a path segment equal to that name:
//   gcr.io/k8s-staging-kops, gs://k8s-staging-kops/kops/releases/, s3://staging/k8s-staging-kops/
// or be in the shared staging registry under the short name: for `k8s-staging-kro`,
//   us-central1-docker.pkg.dev/k8s-staging-images/kro
// kpromo has no such rule, so a source outside is a warning by default. The admins, not the
// projects, declare exceptions and may make the rule an error, in `promoter-staging.yaml` at the
// root of the manifests directory:
//   outsideStaging: error          # default: warning
//   staging:
//     k8s-staging-provider-gcp: [gs://k8s-staging-cloud-provider-gcp]
import { z } from 'zod';
import type { Severity } from './model.js';

export const STAGING_FILE = 'promoter-staging.yaml';

/** The shared staging registry path: `<host>/k8s-staging-images/<name>` for project `k8s-staging-<name>`. */
const SHARED_STAGING = 'k8s-staging-images';

export const stagingDeclarationSchema = z.strictObject({
  outsideStaging: z.enum(['warning', 'error']).optional(),
  staging: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).optional(),
});

export type StagingDeclaration = Map<string, string[]>;

export interface StagingPolicy {
  declared: StagingDeclaration;
  /** How a source outside the project's staging area is reported. */
  severity: Severity;
}

export const DEFAULT_STAGING_POLICY: StagingPolicy = { declared: new Map(), severity: 'warning' };

/** The segments of a location after its scheme and host: bucket and prefix, or registry path. */
export function locationSegments(location: string): string[] {
  const scheme = /^([a-z0-9]+):\/\//.exec(location);
  if (scheme) {
    const rest = location.slice(scheme[0].length);
    // For s3:// and gs:// the "host" is the bucket, which is part of the namespace; for file:// it is empty.
    return rest.split('/').filter((s) => s.length > 0);
  }
  // A registry: host[:port]/path...
  return location
    .split('/')
    .slice(1)
    .filter((s) => s.length > 0);
}

function normalise(location: string): string {
  return location.endsWith('/') ? location : `${location}/`;
}

/** Why `src` is outside `project`'s staging area, or undefined if it is inside. */
export function stagingViolation(project: string, src: string, declared: StagingDeclaration): string | undefined {
  const segments = locationSegments(src);
  if (segments.includes(project)) return undefined;
  const short = project.startsWith('k8s-staging-') ? project.slice('k8s-staging-'.length) : undefined;
  const isRegistry = !/^[a-z0-9]+:\/\//.test(src);
  if (short && isRegistry && segments[0] === SHARED_STAGING && segments[1] === short) return undefined;
  const extra = declared.get(project) ?? [];
  if (extra.some((prefix) => normalise(src).startsWith(normalise(prefix)))) return undefined;
  const shared = short && isRegistry ? ` or be <registry>/${SHARED_STAGING}/${short}` : '';
  const also = extra.length > 0 ? ` or be under ${extra.join(', ')} (declared in ${STAGING_FILE})` : ` (admins can admit it in ${STAGING_FILE})`;
  return `source ${src} is outside project ${project}'s staging area: it must have a path segment "${project}"${shared}${also}`;
}
