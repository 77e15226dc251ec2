// config/registry-k8s-io.yaml reproduces registry.k8s.io (issue 13): `explain` with the real AWS
// and GCP ranges shows AWS clients' blobs going to their region's S3 bucket (once it holds them),
// GCP clients staying on their region's Artifact Registry, everyone else on the continent's or the
// default registry, and manifests never going to a bucket.
import test from 'ava';
import { copyFileSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AWS_RANGES, GCP_RANGES } from '../helpers/config.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const EXAMPLE = fileURLToPath(new URL('../../config/registry-k8s-io.yaml', import.meta.url));
const BLOB = `/v2/pause/blobs/sha256:${'7f'.repeat(32)}`;
const MANIFEST = '/v2/pause/manifests/3.10';

/** The example as shipped, beside a data/ holding the real ranges where `npm run update-ranges` puts them. */
function exampleWithRanges(): string {
  const root = tempDir('registry-k8s-io-');
  mkdirSync(join(root, 'config'));
  mkdirSync(join(root, 'data'));
  symlinkSync(AWS_RANGES, join(root, 'data', 'aws-ip-ranges.json'));
  symlinkSync(GCP_RANGES, join(root, 'data', 'gcp-ip-ranges.json'));
  const file = join(root, 'config', 'registry-k8s-io.yaml');
  copyFileSync(EXAMPLE, file);
  return file;
}

const config = exampleWithRanges();
test.after.always(() => rmSync(join(config, '..', '..'), { recursive: true, force: true }));

interface Explained {
  mirror?: string;
  location?: string;
  client?: { cloud?: string };
  checks?: { mirror: string; url: string }[];
}

async function explain(ip: string, path: string, ...extra: string[]): Promise<Explained> {
  const run = await runCli(['explain', '--config', config, '--ip', ip, '--json', ...extra, path]);
  if (run.code !== 0) throw new Error(`explain ${ip} ${path}: exit ${run.code}\n${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as Explained;
}

// [case, client address, its cloud region, bucket, mirror for a blob the bucket holds, mirror for a manifest]
const cases: [string, string, string | undefined, string | undefined, string, string][] = [
  ['AWS us-east-1', '52.94.152.9', 'aws:us-east-1', 's3-us-east-1', 's3-us-east-1', 'ar-us-east4'],
  ['AWS eu-west-1 (IPv6)', '2a05:d06a:8000::1', 'aws:eu-west-1', 's3-eu-west-1', 's3-eu-west-1', 'ar-europe-west1'],
  ['GCP europe-west1', '8.34.208.1', 'gcp:europe-west1', undefined, 'ar-europe-west1', 'ar-europe-west1'],
  ['GCP us-central1 (IPv6)', '2600:1900:4000::1', 'gcp:us-central1', undefined, 'ar-us-central1', 'ar-us-central1'],
  ['another address (GB)', '81.2.69.160', undefined, undefined, 'ar-europe-west1', 'ar-europe-west1'],
  ['another address (unlocated)', '192.0.2.1', undefined, undefined, 'ar-us-east4', 'ar-us-east4'],
];

for (const [name, ip, cloud, bucket, blobMirror, manifestMirror] of cases) {
  test(`registry-k8s-io.yaml: ${name}`, async (t) => {
    // The bucket holding the blob (--holds: no HEAD to the real S3 from a test).
    const blob = await explain(ip, BLOB, '--offline', ...(bucket ? ['--holds', bucket] : []));
    t.is(blob.client?.cloud, cloud);
    t.is(blob.mirror, blobMirror);
    if (bucket) {
      const region = bucket.slice('s3-'.length);
      t.is(blob.location, `https://prod-registry-k8s-io-${region}.s3.dualstack.${region}.amazonaws.com/containers/images/sha256:${'7f'.repeat(32)}`);
      // Not known to hold it: serve HEADs the bucket first, and the registry serves meanwhile.
      const unchecked = await explain(ip, BLOB, '--offline');
      t.deepEqual(
        unchecked.checks?.map((c) => [c.mirror, c.url]),
        [[bucket, blob.location]],
      );
      t.is(unchecked.mirror, manifestMirror);
    } else {
      t.is(blob.checks, undefined, 'no bucket for this client: nothing to check');
    }
    const manifest = await explain(ip, MANIFEST, '--offline', ...(bucket ? ['--holds', bucket] : []));
    t.is(manifest.mirror, manifestMirror);
    t.true(manifest.location?.startsWith(`https://${manifestMirror.slice('ar-'.length)}-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.10`));
  });
}

test('registry-k8s-io.yaml says what is missing when the ranges are not downloaded', async (t) => {
  const run = await runCli(['validate', EXAMPLE]);
  t.is(run.code, 1);
  t.regex(run.stderr, /registry-k8s-io\.yaml:\d+:\d+: cannot read aws ranges from .*data\/aws-ip-ranges\.json/);
});
