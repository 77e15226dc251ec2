import test from 'ava';
import { locationSegments, stagingViolation } from '../../src/promoter/staging.js';

test('a source must have the project as a path segment, or be declared', (t) => {
  t.deepEqual(locationSegments('gs://k8s-staging-kops/kops/releases/'), ['k8s-staging-kops', 'kops', 'releases']);
  t.deepEqual(locationSegments('127.0.0.1:5000/k8s-staging-x/sub'), ['k8s-staging-x', 'sub']);
  t.is(stagingViolation('k8s-staging-kops', 'gcr.io/k8s-staging-kops', new Map()), undefined);
  t.is(stagingViolation('k8s-staging-x', 's3://staging/k8s-staging-x/', new Map()), undefined);
  t.regex(stagingViolation('k8s-staging-x', 'gcr.io/k8s-staging-y', new Map()) ?? '', /outside project k8s-staging-x's staging area/);
  // The host is not a path segment: a registry named like the project does not count.
  t.truthy(stagingViolation('k8s-staging-x', 'k8s-staging-x/other', new Map()));
  const declared = new Map([['k8s-staging-x', ['gs://bucket-x/']]]);
  t.is(stagingViolation('k8s-staging-x', 'gs://bucket-x/rel', declared), undefined);
  t.truthy(stagingViolation('k8s-staging-x', 'gs://bucket-xy/rel', declared));
});

test('the shared staging registry: <registry>/k8s-staging-images/<name> belongs to k8s-staging-<name>', (t) => {
  t.is(stagingViolation('k8s-staging-kro', 'us-central1-docker.pkg.dev/k8s-staging-images/kro', new Map()), undefined);
  t.is(stagingViolation('k8s-staging-kro', 'us-central1-docker.pkg.dev/k8s-staging-images/kro/sub', new Map()), undefined);
  t.regex(stagingViolation('k8s-staging-kro', 'us-central1-docker.pkg.dev/k8s-staging-images/headlamp', new Map()) ?? '', /or be <registry>\/k8s-staging-images\/kro/);
  // Only as the first two path segments of a registry, not a bucket nor deeper down.
  t.truthy(stagingViolation('k8s-staging-kro', 'gs://k8s-staging-images/kro', new Map()));
  t.truthy(stagingViolation('k8s-staging-kro', 'reg.example/other/k8s-staging-images/kro', new Map()));
});
