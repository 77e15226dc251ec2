// Blob buckets (issue 13) in promoter manifests: `registries:` entries named by a store URL are
// blob-bucket destinations; a malformed one is an error at file:line:column; `validate` reports it.
import test from 'ava';
import { join } from 'node:path';
import { formatProblem } from '../../src/config/yaml-source.js';
import { loadManifests } from '../../src/promoter/load.js';
import { runCli } from '../helpers/run-cli.js';
import { D1, tree } from './fixtures.js';

const IMAGES = `- name: app\n  dmap:\n    "${D1}": ["v1"]\n`;
const manifest = (...extra: string[]) => ['registries:', '- name: staging.example/k8s-staging-x', '  src: true', '- name: prod.example/images', ...extra.map((n) => `- name: ${n}`)].join('\n') + '\n';

test('file://, s3:// and gs:// entries of registries: are blob buckets, kept apart from registries', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-x/promoter-manifest.yaml': manifest('file:///srv/blobs', 's3://k8s-blobs-us-east-1/prefix', 'gs://k8s-blobs_eu/'),
    'images/k8s-staging-x/images.yaml': IMAGES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.deepEqual(r.findings, []);
  const p = r.projects[0];
  t.is(p?.kind, 'images');
  t.deepEqual(p?.destinations, ['prod.example/images']);
  t.deepEqual(p?.kind === 'images' ? p.blobBuckets : undefined, ['file:///srv/blobs/', 's3://k8s-blobs-us-east-1/prefix/', 'gs://k8s-blobs_eu/']);
});

test('a project may fill only blob buckets', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-x/promoter-manifest.yaml': 'registries:\n- name: staging.example/k8s-staging-x\n  src: true\n- name: s3://k8s-blobs\n',
    'images/k8s-staging-x/images.yaml': IMAGES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.deepEqual(r.findings, []);
  t.deepEqual(r.projects[0]?.destinations, []);
});

test('malformed bucket URLs are errors at file:line:column, and validate reports them', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-x/promoter-manifest.yaml': manifest('file://host/srv/blobs', 's3://Bad_Bucket/x', 'https://cdn.example/blobs', 'gs://ok-bucket/../up', 's3://k8s-blobs', 's3://k8s-blobs/'),
    'images/k8s-staging-x/images.yaml': IMAGES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  const lines = r.findings.map((f) => `${f.severity} ${formatProblem(f).replace(`${dir}/`, '')}`);
  const at = 'manifests/k8s-staging-x/promoter-manifest.yaml';
  t.deepEqual(lines, [
    `error ${at}:5:9: invalid blob bucket "file://host/srv/blobs": a file:// bucket needs an absolute path and no host (file:///srv/blobs), expected file:///absolute/path, s3://bucket[/prefix] or gs://bucket[/prefix]`,
    `error ${at}:6:9: invalid blob bucket "s3://Bad_Bucket/x": "Bad_Bucket" is not a valid S3 bucket name (3-63 lower-case letters, digits, dots or hyphens)`,
    `error ${at}:7:9: invalid blob bucket "https://cdn.example/blobs": unsupported scheme "https://" for a blob bucket: expected file:///absolute/path, s3://bucket[/prefix] or gs://bucket[/prefix]`,
    `error ${at}:8:9: invalid blob bucket "gs://ok-bucket/../up": the path has a ".." segment`,
    `warning ${at}:10:9: blob bucket s3://k8s-blobs/ listed twice; filling it once`,
  ]);
  t.deepEqual([...r.skipped.keys()], ['k8s-staging-x']);
  const v = await runCli(['validate', dir]);
  t.is(v.code, 1);
  t.regex(v.stderr, /promoter-manifest\.yaml:6:9: invalid blob bucket "s3:\/\/Bad_Bucket\/x"/);
  t.regex(v.stdout, /4 problem\(s\)/);
});

test('a blob bucket cannot be the source', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-x/promoter-manifest.yaml': 'registries:\n- name: s3://k8s-staging-x\n  src: true\n- name: prod.example/images\n',
    'images/k8s-staging-x/images.yaml': IMAGES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(join(dir));
  t.true(r.findings.some((f) => f.severity === 'error' && f.line === 3 && /a blob bucket \(s3:\/\/k8s-staging-x\) cannot be the source/.test(f.message)));
});
