// The example manifests that docs/promoter.md shows must stay valid.
import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../../src/promoter/load.js';

test('config/promoter examples load without findings', async (t) => {
  const r = await loadManifests(join(dirname(fileURLToPath(import.meta.url)), '../../config/promoter'));
  t.deepEqual(r.findings, []);
  t.deepEqual(r.projects.map((p) => p.id).sort(), ['files/k8s-staging-example', 'images/k8s-staging-example']);
  const images = r.projects.find((p) => p.kind === 'images');
  t.deepEqual(images?.kind === 'images' ? images.blobBuckets : [], ['s3://example-blobs-us-east-1/', 'file:///srv/artifact-serving/blobs/']);
});
