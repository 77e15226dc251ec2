// Which staging area a project may promote out of. A project owns a directory of manifests named
// after its staging area (kpromo's convention: `k8s-staging-kops`), so by default the source
// registry or filestore must have a path segment equal to that name:
//   gcr.io/k8s-staging-kops, gs://k8s-staging-kops/kops/releases/, s3://staging/k8s-staging-kops/
// Exceptions (a bucket named differently) are declared by the admins, not by the project, in
// `promoter-staging.yaml` at the root of the manifests directory:
//   staging:
//     k8s-staging-provider-gcp: [gs://k8s-staging-cloud-provider-gcp]
import { z } from 'zod';

export const STAGING_FILE = 'promoter-staging.yaml';

export const stagingDeclarationSchema = z.strictObject({
  staging: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)),
});

export type StagingDeclaration = Map<string, string[]>;

/** The segments of a location after its scheme and host: bucket and prefix, or registry path. */
export function locationSegments(location: string): string[] {
  const scheme = /^([a-z0-9]+):\/\//.exec(location);
  if (scheme) {
    const rest = location.slice(scheme[0].length);
    // For s3:// and gs:// the "host" is the bucket, which is part of the namespace; for file:// it is empty.
    return rest.split('/').filter((s) => s.length > 0);
  }
  // A registry: host[:port]/path...
  return location.split('/').slice(1).filter((s) => s.length > 0);
}

function normalise(location: string): string {
  return location.endsWith('/') ? location : `${location}/`;
}

/** Why `src` is outside `project`'s staging area, or undefined if it is inside. */
export function stagingViolation(project: string, src: string, declared: StagingDeclaration): string | undefined {
  if (locationSegments(src).includes(project)) return undefined;
  const extra = declared.get(project) ?? [];
  if (extra.some((prefix) => normalise(src).startsWith(normalise(prefix)))) return undefined;
  const also = extra.length > 0 ? ` or under ${extra.join(', ')} (declared in ${STAGING_FILE})` : '';
  return `source ${src} is outside project ${project}'s staging area: it must have a path segment "${project}"${also}`;
}
