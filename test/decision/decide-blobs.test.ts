// Blob buckets (`blobs:` mirrors, issue 13): blobs from object storage near the client, manifests,
// tags and referrers from registries, a blob a bucket lacks from a registry. Table tests per
// request kind, as registry.k8s.io tests its handlers.
import test from 'ava';
import { decide, type Decision } from '../../src/decision/decide.js';
import { blobPath } from '../../src/mirrors/blob-url.js';
import { ALL_UP, type Availability, type MirrorStateView } from '../../src/mirrors/state-view.js';
import { compile, FIXTURE_AWS_RANGES, FIXTURE_GCP_RANGES, problemsOf } from '../helpers/config.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;

const config = compile(`
trustedProxies: [127.0.0.1/32]
cloudRanges:
  aws: ${FIXTURE_AWS_RANGES}
  gcp: ${FIXTURE_GCP_RANGES}
mirrors:
  s3-us-east-1: { blobs: https://prod-registry-k8s-io-us-east-1.s3.dualstack.us-east-1.amazonaws.com }
  s3-eu-west-1: { blobs: https://bucket-eu.example/prefix/, layout: "blobs/{algorithm}/{hex}" }
  private-cache: { blobs: http://cache.corp.example, ipVersions: [4] }
  ar-us-east4: { registry: https://us-east4-docker.pkg.dev, repository: k8s-artifacts-prod/images }
  ar-europe-west1: { registry: https://europe-west1-docker.pkg.dev, repository: k8s-artifacts-prod/images }
  ar-default: { registry: https://us-docker.pkg.dev, repository: k8s-artifacts-prod/images }
routes:
  - prefix: /v2/
    regions:
      aws:us-east-1: [s3-us-east-1, ar-us-east4]
      aws:eu-west-1: [s3-eu-west-1, ar-europe-west1]
      gcp:europe-west1: ar-europe-west1
      10.0.0.0/8: [private-cache, ar-default]
    default: ar-default
`);

const withOrigin = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  bucket: { blobs: https://bucket.example }
  mirror-reg: { registry: https://mirror.example }
  origin-reg: { registry: https://origin.example }
routes:
  - prefix: /v2/
    regions: { 10.0.0.0/8: [bucket, mirror-reg] }
    default: mirror-reg
    origin: origin-reg
`);

/** Every mirror holds everything, as a HEAD would say; `absent` lists "mirror key" pairs it lacks. */
function state(absent: string[] = [], sizes: Record<string, number> = {}): MirrorStateView {
  return {
    ...ALL_UP,
    availability: (mirror, key): Availability =>
      absent.includes(`${mirror} ${key}`) ? { state: 'absent', status: 404, checkedAt: 0 } : { state: 'present', checkedAt: 0, ...(sizes[mirror] !== undefined && { contentLength: sizes[mirror] }) },
  };
}

function run(path: string, forwardedFor: string, view: MirrorStateView = state(), method = 'GET', cfg = config): Decision {
  return decide({ method, path, query: '', peerAddress: '127.0.0.1', forwardedFor, checksDone: true }, cfg, view);
}

const AWS_USE1 = '52.94.152.9';
const AWS_EUW1 = '2a05:d06a:8000::1';
const GCP_EUW1 = '8.34.208.1';
const ELSEWHERE = '81.2.69.160';
const PRIVATE = '10.1.2.3';

// [name, method, path, client, expected mirror, expected location]
const table: [string, string, string, string, string, string][] = [
  ['AWS us-east-1 blob GET: its S3 bucket', 'GET', `/v2/pause/blobs/${DIGEST}`, AWS_USE1, 's3-us-east-1', `https://prod-registry-k8s-io-us-east-1.s3.dualstack.us-east-1.amazonaws.com/containers/images/${DIGEST}`],
  ['AWS us-east-1 blob HEAD: its S3 bucket', 'HEAD', `/v2/pause/blobs/${DIGEST}`, AWS_USE1, 's3-us-east-1', `https://prod-registry-k8s-io-us-east-1.s3.dualstack.us-east-1.amazonaws.com/containers/images/${DIGEST}`],
  [
    'AWS us-east-1 nested repository: the same key (buckets are by digest only)',
    'GET',
    `/v2/sig-storage/csi/blobs/${DIGEST}`,
    AWS_USE1,
    's3-us-east-1',
    `https://prod-registry-k8s-io-us-east-1.s3.dualstack.us-east-1.amazonaws.com/containers/images/${DIGEST}`,
  ],
  ['AWS us-east-1 manifest by tag: the region registry', 'GET', '/v2/pause/manifests/3.10', AWS_USE1, 'ar-us-east4', 'https://us-east4-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.10'],
  ['AWS us-east-1 manifest by digest: the region registry', 'HEAD', `/v2/pause/manifests/${DIGEST}`, AWS_USE1, 'ar-us-east4', `https://us-east4-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/${DIGEST}`],
  ['AWS us-east-1 tag list: the region registry', 'GET', '/v2/pause/tags/list', AWS_USE1, 'ar-us-east4', 'https://us-east4-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/tags/list'],
  ['AWS us-east-1 referrers: the region registry', 'GET', `/v2/pause/referrers/${DIGEST}`, AWS_USE1, 'ar-us-east4', `https://us-east4-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/referrers/${DIGEST}`],
  ['AWS eu-west-1 blob: a custom layout with {algorithm}/{hex}', 'GET', `/v2/pause/blobs/${DIGEST}`, AWS_EUW1, 's3-eu-west-1', `https://bucket-eu.example/prefix/blobs/sha256/${'ab'.repeat(32)}`],
  ['AWS eu-west-1 manifest: its registry', 'GET', '/v2/pause/manifests/3.10', AWS_EUW1, 'ar-europe-west1', 'https://europe-west1-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.10'],
  ['GCP europe-west1 blob: its Artifact Registry', 'GET', `/v2/pause/blobs/${DIGEST}`, GCP_EUW1, 'ar-europe-west1', `https://europe-west1-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/blobs/${DIGEST}`],
  ['elsewhere blob: the default registry', 'GET', `/v2/pause/blobs/${DIGEST}`, ELSEWHERE, 'ar-default', `https://us-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/blobs/${DIGEST}`],
  ['elsewhere manifest: the default registry', 'GET', '/v2/pause/manifests/3.10', ELSEWHERE, 'ar-default', 'https://us-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.10'],
  ['CIDR region blob: the private bucket', 'GET', `/v2/pause/blobs/${DIGEST}`, PRIVATE, 'private-cache', `http://cache.corp.example/containers/images/${DIGEST}`],
  ['CIDR region manifest: the registry after the bucket', 'GET', '/v2/pause/manifests/3.10', PRIVATE, 'ar-default', 'https://us-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.10'],
];

for (const [name, method, path, client, mirror, location] of table) {
  test(`blob buckets: ${name}`, (t) => {
    const d = run(path, client, state(), method);
    if (d.kind !== 'redirect') return t.fail(`expected a redirect, got ${JSON.stringify(d)}`);
    t.is(d.mirror.name, mirror);
    t.is(d.location, location);
    t.is(d.status, 307);
    // Passed over silently for what buckets do not hold: no "skipped" verdict a client sees as a failure.
    if (!path.includes('/blobs/')) t.false(d.verdicts.some((v) => v.mirror.startsWith('s3-') || v.mirror === 'private-cache'));
  });
}

test('a blob the bucket lacks comes from the region registry, with the reason', (t) => {
  const d = run(`/v2/pause/blobs/${DIGEST}`, AWS_USE1, state([`s3-us-east-1 blob:pause@${DIGEST}`]));
  if (d.kind !== 'redirect') return t.fail(JSON.stringify(d));
  t.is(d.mirror.name, 'ar-us-east4');
  t.deepEqual(d.verdicts[0], { mirror: 's3-us-east-1', region: 'aws:us-east-1', outcome: 'skipped', reason: 'does not have it (HTTP 404)' });
  // Another blob is still served by the bucket.
  const other = run(`/v2/pause/blobs/${OTHER}`, AWS_USE1, state([`s3-us-east-1 blob:pause@${DIGEST}`]));
  t.is(other.kind === 'redirect' && other.mirror.name, 's3-us-east-1');
});

test('a bucket is checked before use even on a route without an origin; registries are not', (t) => {
  const unknown: MirrorStateView = { ...ALL_UP, availability: () => undefined };
  const first = decide({ method: 'GET', path: `/v2/pause/blobs/${DIGEST}`, query: '', peerAddress: '127.0.0.1', forwardedFor: AWS_USE1 }, config, unknown);
  if (first.kind !== 'check') return t.fail(JSON.stringify(first));
  t.deepEqual(
    first.checks.map((c) => [c.mirror, c.url, c.kind]),
    [['s3-us-east-1', `https://prod-registry-k8s-io-us-east-1.s3.dualstack.us-east-1.amazonaws.com/containers/images/${DIGEST}`, 'blob']],
  );
  // The check did not answer in time: the registry serves, nobody waits again.
  const second = run(`/v2/pause/blobs/${DIGEST}`, AWS_USE1, unknown);
  t.is(second.kind === 'redirect' && second.mirror.name, 'ar-us-east4');
  // Manifests never wait for a bucket check.
  t.is(decide({ method: 'GET', path: '/v2/pause/manifests/3.10', query: '', peerAddress: '127.0.0.1', forwardedFor: AWS_USE1 }, config, unknown).kind, 'redirect');
});

test('a down bucket fails over to the registry; an IPv6 client skips an IPv4-only bucket', (t) => {
  const down: MirrorStateView = { ...state(), health: (m) => (m === 's3-us-east-1' ? { up: false, reason: 'probe failed' } : { up: true }) };
  const d = run(`/v2/pause/blobs/${DIGEST}`, AWS_USE1, down);
  t.is(d.kind === 'redirect' && d.mirror.name, 'ar-us-east4');
  const v6 = compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  v4-bucket: { blobs: https://v4.example, ipVersions: [4] }
  reg: { registry: https://reg.example }
routes:
  - prefix: /v2/
    default: [v4-bucket, reg]
`);
  const six = run(`/v2/pause/blobs/${DIGEST}`, '2a00:1450:4001::1', state(), 'GET', v6);
  t.is(six.kind === 'redirect' && six.mirror.name, 'reg');
  const four = run(`/v2/pause/blobs/${DIGEST}`, ELSEWHERE, state(), 'GET', v6);
  t.is(four.kind === 'redirect' && four.mirror.name, 'v4-bucket');
});

test('every candidate skipped: the fallback is a registry, never a bucket', (t) => {
  const allDown: MirrorStateView = { ...state(), health: () => ({ up: false, reason: 'down' }) };
  const cfg = compile(`
mirrors:
  bucket: { blobs: https://bucket.example }
  reg: { registry: https://reg.example }
routes:
  - prefix: /v2/
    default: [bucket, reg]
`);
  for (const path of [`/v2/pause/blobs/${DIGEST}`, '/v2/pause/manifests/v1']) {
    const d = run(path, ELSEWHERE, allDown, 'GET', cfg);
    t.is(d.kind === 'redirect' && d.mirror.name, 'reg', path);
  }
});

test('with an origin: a bucket blob redirect carries the size its HEAD recorded', (t) => {
  const d = run(`/v2/pause/blobs/${DIGEST}`, PRIVATE, state([], { bucket: 1234 }), 'GET', withOrigin);
  if (d.kind !== 'redirect') return t.fail(JSON.stringify(d));
  t.is(d.mirror.name, 'bucket');
  t.is(d.bytes, 1234);
  const tags = run('/v2/pause/tags/list', PRIVATE, state(), 'GET', withOrigin);
  t.is(tags.kind === 'redirect' && tags.mirror.name, 'origin-reg');
});

test('without an origin: a bucket blob redirect carries the size its HEAD recorded', (t) => {
  const d = run(`/v2/pause/blobs/${DIGEST}`, AWS_USE1, state([], { 's3-us-east-1': 987 }));
  t.is(d.kind === 'redirect' && d.bytes, 987);
});

test('layouts put the digest where they say', (t) => {
  t.is(blobPath('containers/images/{digest}', DIGEST), `containers/images/${DIGEST}`);
  t.is(blobPath('{algorithm}/{hex}', DIGEST), `sha256/${'ab'.repeat(32)}`);
  t.is(blobPath('x/{hex}.blob', DIGEST), `x/${'ab'.repeat(32)}.blob`);
});

test('config errors for blob buckets say what and where', (t) => {
  t.deepEqual(
    problemsOf(`mirrors:
  bucket: { blobs: https://bucket.example }
routes:
  - prefix: /bin
    default: bucket
`),
    ['config.yaml:5:14: mirror "bucket" is a blob bucket (blobs:), for OCI routes only, but route "/bin" is a binary route'],
  );
  t.deepEqual(
    problemsOf(`mirrors:
  bucket: { blobs: https://bucket.example }
routes:
  - prefix: /v2/
    default: bucket
`),
    ['config.yaml:5:14: route "/v2" has only blob buckets as its default: add a registry (manifests, tags and referrers come from registries)'],
  );
  t.deepEqual(
    problemsOf(`mirrors:
  bucket: { blobs: https://bucket.example }
  reg: { registry: https://reg.example }
routes:
  - prefix: /v2/
    default: reg
    origin: bucket
`),
    ['config.yaml:7:13: mirror "bucket" is a blob bucket: it cannot be an origin, which serves manifests, tags and referrers too'],
  );
  const layout = problemsOf(`mirrors:
  bucket: { blobs: https://bucket.example, layout: "images/{name}/{digest}" }
  reg: { registry: https://reg.example }
routes:
  - prefix: /v2/
    default: [bucket, reg]
`);
  t.is(layout.length, 1);
  t.regex(layout[0]!, /^config\.yaml:2:\d+: .*no other \{placeholders\}/);
});

test('trust: a blob bucket on a route with expected content needs its destination; a registry cannot have one', (t) => {
  const config = (destinations: string) => `mirrors:
  bucket: { blobs: https://bucket.example }
  reg: { registry: https://reg.example }
routes:
  - prefix: /v2/
    default: [bucket, reg]
trust:
  expected:
    - { route: /v2/, ledgers: ledgers/ }
  ownership:
    key: ${'k'.repeat(32)}
    destinations: {${destinations}}
`;
  t.deepEqual(problemsOf(config('')), ['config.yaml:11:5: blob bucket "bucket" (route /v2) needs its promoter destination under destinations: to check its ownership token']);
  t.deepEqual(problemsOf(config(' bucket: "s3://prod-blobs/eu" ')), []);
  t.deepEqual(problemsOf(config(' bucket: "s3://prod-blobs/eu", reg: "x" ')), ['config.yaml:12:51: "reg" is a registry: its destination is its registry host and repository']);
});
