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
