// Table tests of routing decisions: one row per client and path, as registry.k8s.io tests its handlers.
import test from 'ava';
import { decide, type Decision, type RequestFacts } from '../../src/decision/decide.js';
import { ALL_UP, type MirrorStateView } from '../../src/mirrors/state-view.js';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compile, FIXTURE_AWS_RANGES, FIXTURE_GCP_RANGES, writeConfig } from '../helpers/config.js';
import { loadConfigFile } from '../../src/config/load.js';

const config = compile(`
trustedProxies: [127.0.0.1/32, ::1/128]
cloudRanges:
  aws: ${FIXTURE_AWS_RANGES}
  gcp: ${FIXTURE_GCP_RANGES}
registry:
  namespaces: [registry.example]
mirrors:
  eu-files: { url: https://eu.files.example/base }
  us-files: { url: https://us.files.example/base }
  jp-files: { url: https://jp.files.example }
  aws-use1-files: { url: https://s3.us-east-1.example/bucket }
  gcp-files: { url: https://gcs.example/bucket }
  private-files: { url: http://cache.corp.example }
  origin-files: { url: https://origin.example/prod }
  v4-only: { url: https://v4.example, ipVersions: [4] }
  eu-reg: { registry: https://eu.registry.example, repository: prod/images }
  us-reg: { registry: https://us.registry.example, repository: prod/images }
  kops-reg: { registry: https://kops.registry.example }
routes:
  - prefix: /files
    regions:
      Europe: eu-files
      Americas: us-files
      JP: jp-files
      Asia: [v4-only, us-files]
      aws:us-east-1: aws-use1-files
      gcp:*: gcp-files
      10.1.0.0/16: private-files
    default: us-files
    origin: origin-files
  - prefix: /files/special
    default: jp-files
  - prefix: /v2/
    regions:
      Europe: eu-reg
    default: us-reg
  - prefix: /v2/kops
    default: kops-reg
/kops:
  - Europe: eu.kops.example
  - default: us.kops.example
`);

function facts(path: string, ip: string, extra: Partial<RequestFacts> = {}): RequestFacts {
  const q = path.indexOf('?');
  return { method: 'GET', path: q === -1 ? path : path.slice(0, q), query: q === -1 ? '' : path.slice(q + 1), peerAddress: ip, checksDone: true, ...extra };
}

/** Every mirror up and holding every object: routing alone decides. */
const EVERYTHING_PRESENT: MirrorStateView = { ...ALL_UP, availability: () => ({ state: 'present', checkedAt: 0 }) };

function run(path: string, ip: string, extra: Partial<RequestFacts> = {}, state: MirrorStateView = EVERYTHING_PRESENT): Decision {
  return decide(facts(path, ip, extra), config, state);
}

// [name, path, client ip, X-Forwarded-For, expected mirror, expected region, expected location]
const routing: [string, string, string, string | undefined, string, string, string][] = [
  ['GB client gets Europe', '/files/v1/tool', '81.2.69.160', undefined, 'eu-files', 'Europe', 'https://eu.files.example/base/v1/tool'],
  ['DE IPv6 client gets Europe', '/files/v1/tool', '2a00:1450:4001::1', undefined, 'eu-files', 'Europe', 'https://eu.files.example/base/v1/tool'],
  ['US client gets the Americas', '/files/v1/tool', '8.8.8.8', undefined, 'us-files', 'Americas', 'https://us.files.example/base/v1/tool'],
  ['BR client: Americas group covers South America', '/files/x', '200.160.2.3', undefined, 'us-files', 'Americas', 'https://us.files.example/base/x'],
  ['JP client: country beats continent', '/files/x', '133.242.0.1', undefined, 'jp-files', 'JP', 'https://jp.files.example/x'],
  ['AU client: no region matches, default', '/files/x', '1.1.1.1', undefined, 'us-files', 'default', 'https://us.files.example/base/x'],
  ['unlocatable address: default', '/files/x', '192.0.2.1', undefined, 'us-files', 'default', 'https://us.files.example/base/x'],
  ['AWS us-east-1 address: cloud region beats country', '/files/x', '52.94.152.9', undefined, 'aws-use1-files', 'aws:us-east-1', 'https://s3.us-east-1.example/bucket/x'],
  ['GCP address: provider wildcard', '/files/x', '8.34.208.1', undefined, 'gcp-files', 'gcp:*', 'https://gcs.example/bucket/x'],
  ['GCP IPv6 address', '/files/x', '2600:1900:4000::1', undefined, 'gcp-files', 'gcp:*', 'https://gcs.example/bucket/x'],
  ['trusted proxy forwards a private client: CIDR wins', '/files/x', '127.0.0.1', '10.1.2.3', 'private-files', '10.1.0.0/16', 'http://cache.corp.example/x'],
  ['trusted proxy forwards a GB client', '/files/x', '127.0.0.1', '81.2.69.160', 'eu-files', 'Europe', 'https://eu.files.example/base/x'],
  ['IPv6 loopback proxy forwards a JP client', '/files/x', '::1', '133.242.0.1', 'jp-files', 'JP', 'https://jp.files.example/x'],
  ['spoofed header from an untrusted client is ignored', '/files/x', '8.8.8.8', '10.1.2.3', 'us-files', 'Americas', 'https://us.files.example/base/x'],
  ['longest route prefix wins', '/files/special/y', '81.2.69.160', undefined, 'jp-files', 'default', 'https://jp.files.example/y'],
  ['the query string is kept', '/files/x?arch=arm64', '8.8.8.8', undefined, 'us-files', 'Americas', 'https://us.files.example/base/x?arch=arm64'],
  ['short form keeps the whole path', '/kops/1.28/linux/kops', '81.2.69.160', undefined, 'https://eu.kops.example', 'Europe', 'https://eu.kops.example/kops/1.28/linux/kops'],
  ['OCI manifest with repository prefix', '/v2/pause/manifests/3.10', '81.2.69.160', undefined, 'eu-reg', 'Europe', 'https://eu.registry.example/v2/prod/images/pause/manifests/3.10'],
  ['OCI blob by digest', `/v2/org/app/blobs/sha256:${'a'.repeat(64)}`, '8.8.8.8', undefined, 'us-reg', 'default', `https://us.registry.example/v2/prod/images/org/app/blobs/sha256:${'a'.repeat(64)}`],
  ['OCI tag list keeps pagination', '/v2/pause/tags/list?n=10&last=3.9', '8.8.8.8', undefined, 'us-reg', 'default', 'https://us.registry.example/v2/prod/images/pause/tags/list?n=10&last=3.9'],
  [
    'OCI referrers',
    `/v2/pause/referrers/sha256:${'b'.repeat(64)}?artifactType=x`,
    '8.8.8.8',
    undefined,
    'us-reg',
    'default',
    `https://us.registry.example/v2/prod/images/pause/referrers/sha256:${'b'.repeat(64)}?artifactType=x`,
  ],
  ['OCI name prefix route (longest)', '/v2/kops/dns-controller/manifests/v1', '81.2.69.160', undefined, 'kops-reg', 'default', 'https://kops.registry.example/v2/kops/dns-controller/manifests/v1'],
  ['OCI name prefix matches whole components only', '/v2/kopsx/manifests/v1', '81.2.69.160', undefined, 'eu-reg', 'Europe', 'https://eu.registry.example/v2/prod/images/kopsx/manifests/v1'],
  // ?ns= (and anything else) is for this redirector, not the mirror: only the API's own parameters go on.
  ['registry-mirror mode: known namespace, not passed on', '/v2/pause/manifests/3.10?ns=registry.example', '8.8.8.8', undefined, 'us-reg', 'default', 'https://us.registry.example/v2/prod/images/pause/manifests/3.10'],
  [
    'a blob request keeps no query',
    `/v2/org/app/blobs/sha256:${'a'.repeat(64)}?ns=registry.example&x=1`,
    '8.8.8.8',
    undefined,
    'us-reg',
    'default',
    `https://us.registry.example/v2/prod/images/org/app/blobs/sha256:${'a'.repeat(64)}`,
  ],
  ['a tag list keeps n and last, not ns', '/v2/pause/tags/list?ns=registry.example&n=10&last=3.9', '8.8.8.8', undefined, 'us-reg', 'default', 'https://us.registry.example/v2/prod/images/pause/tags/list?n=10&last=3.9'],
  [
    'referrers keep artifactType, not ns',
    `/v2/pause/referrers/sha256:${'b'.repeat(64)}?artifactType=application%2Fvnd.x&ns=registry.example`,
    '8.8.8.8',
    undefined,
    'us-reg',
    'default',
    `https://us.registry.example/v2/prod/images/pause/referrers/sha256:${'b'.repeat(64)}?artifactType=application%2Fvnd.x`,
  ],
];

for (const [name, path, ip, xff, mirror, region, location] of routing) {
  test(`routing: ${name}`, (t) => {
    const decision = run(path, ip, { forwardedFor: xff });
    if (decision.kind !== 'redirect') return t.fail(JSON.stringify(decision));
    t.is(decision.mirror.name, mirror);
    t.is(decision.region, region);
    t.is(decision.location, location);
    t.is(decision.status, path.startsWith('/v2/') ? 307 : 302);
  });
}

// [name, method, path, status, OCI error code]
const refused: [string, string, string, number, string][] = [
  ['write methods', 'PUT', '/v2/pause/manifests/3.10', 405, 'UNSUPPORTED'],
  ['POST on a binary', 'POST', '/files/x', 405, 'UNSUPPORTED'],
  ['catalog', 'GET', '/v2/_catalog', 404, 'UNSUPPORTED'],
  ['uppercase repository name', 'GET', '/v2/Pause/manifests/3.10', 400, 'NAME_INVALID'],
  ['traversal in a repository name', 'GET', '/v2/../etc/manifests/x', 400, 'NAME_INVALID'],
  ['bad digest', 'GET', '/v2/pause/blobs/sha256:xyz', 400, 'DIGEST_INVALID'],
  ['short sha256', 'GET', `/v2/pause/blobs/sha256:${'a'.repeat(63)}`, 400, 'DIGEST_INVALID'],
  ['a tag as blob reference', 'GET', '/v2/pause/blobs/latest', 400, 'DIGEST_INVALID'],
  ['bad tag', 'GET', '/v2/pause/manifests/-bad', 400, 'MANIFEST_INVALID'],
  ['overlong tag', 'GET', `/v2/pause/manifests/${'a'.repeat(129)}`, 400, 'MANIFEST_INVALID'],
  ['unknown registry endpoint', 'GET', '/v2/pause/uploads', 404, 'NAME_UNKNOWN'],
  ['unknown namespace in mirror mode', 'GET', '/v2/pause/manifests/1?ns=docker.io', 404, 'NAME_UNKNOWN'],
  ['.. segment', 'GET', '/files/../etc/passwd', 400, 'PATH_INVALID'],
  ['encoded ..', 'GET', '/files/%2e%2e/etc/passwd', 400, 'PATH_INVALID'],
  ['mixed-case encoded ..', 'GET', '/files/%2E./x', 400, 'PATH_INVALID'],
  ['encoded slash', 'GET', '/files/a%2fb', 400, 'PATH_INVALID'],
  ['backslash', 'GET', '/files/a\\..\\b', 400, 'PATH_INVALID'],
  ['encoded backslash', 'GET', '/files/a%5c..', 400, 'PATH_INVALID'],
  ['NUL', 'GET', '/files/a%00.tar', 400, 'PATH_INVALID'],
  ['control character', 'GET', '/files/a%0d%0aLocation:%20x', 400, 'PATH_INVALID'],
  ['malformed encoding', 'GET', '/files/%zz', 400, 'PATH_INVALID'],
  ['protocol-relative open redirect', 'GET', '//evil.example/x', 400, 'PATH_INVALID'],
  ['embedded URL open redirect', 'GET', '/files/https://evil.example/x', 400, 'PATH_INVALID'],
  ['encoded double slash', 'GET', '/files/%2F%2Fevil.example', 400, 'PATH_INVALID'],
  ['overlong path', 'GET', `/files/${'a'.repeat(3000)}`, 414, 'PATH_INVALID'],
  ['no route', 'GET', '/elsewhere/x', 404, 'NOT_FOUND'],
  ['absolute-form target', 'GET', 'http://evil.example/files/x', 400, 'PATH_INVALID'],
  ['a route prefix itself', 'GET', '/files', 404, 'NOT_FOUND'],
];

for (const [name, method, path, status, code] of refused) {
  test(`refused: ${name}`, (t) => {
    const decision = run(path, '8.8.8.8', { method });
    if (decision.kind !== 'error') return t.fail(JSON.stringify(decision));
    t.is(decision.status, status);
    t.is(decision.code, code);
    t.true(decision.message.length > 10);
  });
}

test('no request redirects outside the configured mirrors (open-redirect attempts)', (t) => {
  const bases = [...config.mirrors.values()].map((m) => `${m.base}/`);
  const attempts = ['/files/@evil.example', '/files/.evil.example', '/files/x?next=https://evil.example', '/kops/%40evil.example', '/files/x#@evil', '/v2/pause/manifests/3.10?ns=registry.example&x=//evil'];
  for (const path of attempts) {
    const decision = run(path, '8.8.8.8');
    if (decision.kind !== 'redirect') continue;
    const url = new URL(decision.location);
    t.true(
      bases.some((base) => decision.location.startsWith(base)),
      decision.location,
    );
    t.false(url.host.includes('evil'), decision.location);
  }
});

test('/v2/ answers by itself', (t) => {
  t.is(run('/v2/', '8.8.8.8').kind, 'v2-base');
  t.is(run('/v2', '8.8.8.8', { method: 'HEAD' }).kind, 'v2-base');
});

test('checksums and signatures go to the origin only', (t) => {
  for (const suffix of ['.sha256', '.sha512', '.asc', '.sig', '.pem', '.cert', '.md5', '.sha1']) {
    const decision = run(`/files/v1/tool${suffix}`, '81.2.69.160');
    if (decision.kind !== 'redirect') return t.fail();
    t.is(decision.mirror.name, 'origin-files', suffix);
    t.is(decision.location, `https://origin.example/prod/v1/tool${suffix}`);
  }
});

test('checksum files by name (SHA256SUMS, *.sha256sum, checksums.txt) go to the origin only', (t) => {
  for (const file of ['SHA256SUMS', 'SHA512SUMS', 'SHA1SUMS', 'MD5SUMS', 'SHA256SUMS.asc', 'SHA256SUMS.gpg', 'tool.sha256sum', 'tool.sha512sum', 'checksums.txt', 'tool_1.0_checksums.txt']) {
    const decision = run(`/files/v1/${file}`, '81.2.69.160');
    if (decision.kind !== 'redirect') return t.fail();
    t.is(decision.mirror.name, 'origin-files', file);
  }
  // A file that merely mentions a checksum is an ordinary file.
  const plain = run('/files/v1/SHA256SUMS-tool.tar.gz', '81.2.69.160');
  t.is(plain.kind === 'redirect' ? plain.mirror.name : '', 'eu-files');
});

test('an IPv6 client is not sent to an IPv4-only mirror', (t) => {
  const v6 = run('/files/x', '2001:200::1'); // JP-less Asian IPv6 would hit v4-only first
  if (v6.kind !== 'redirect') return t.fail();
  t.not(v6.mirror.name, 'v4-only');
  const v4 = run('/files/x', '202.108.22.5'); // CN, Asia
  if (v4.kind !== 'redirect') return t.fail();
  t.is(v4.mirror.name, 'v4-only');
});

test('a down mirror is skipped, with the reason recorded', (t) => {
  const state: MirrorStateView = { ...EVERYTHING_PRESENT, health: (name) => (name === 'eu-files' ? { up: false, reason: 'probe timeout' } : { up: true }) };
  const decision = run('/files/x', '81.2.69.160', {}, state);
  if (decision.kind !== 'redirect') return t.fail();
  t.is(decision.mirror.name, 'us-files');
  t.deepEqual(decision.verdicts[0], { mirror: 'eu-files', region: 'Europe', outcome: 'skipped', reason: 'down: probe timeout' });
});

test('alternatives name the next mirrors that can serve', (t) => {
  const decision = run('/files/x', '81.2.69.160');
  if (decision.kind !== 'redirect') return t.fail();
  t.deepEqual(
    decision.alternatives.map((a) => a.mirror.name),
    ['us-files', 'origin-files'],
  );
});

test('a route with an origin asks for availability checks before redirecting to a mirror', (t) => {
  const first = run('/files/x', '81.2.69.160', { checksDone: false }, ALL_UP);
  if (first.kind !== 'check') return t.fail(JSON.stringify(first));
  // Every mirror ranked above the first one that surely can serve (the origin) is checked in one round.
  t.deepEqual(first.checks, [
    { mirror: 'eu-files', key: 'file:/files/x', url: 'https://eu.files.example/base/x', kind: 'binary' },
    { mirror: 'us-files', key: 'file:/files/x', url: 'https://us.files.example/base/x', kind: 'binary' },
  ]);
});

test('checks that did not answer in time send the client to the origin', (t) => {
  const decision = run('/files/x', '81.2.69.160', { checksDone: true }, ALL_UP);
  if (decision.kind !== 'redirect') return t.fail();
  t.is(decision.mirror.name, 'origin-files');
  t.regex(decision.verdicts[0]!.reason!, /availability unknown/);
});

test('a mirror known to lack the object is skipped; the next one known to have it is chosen', (t) => {
  const state: MirrorStateView = {
    ...ALL_UP,
    availability: (mirror) => (mirror === 'eu-files' ? { state: 'absent', status: 404, checkedAt: 0 } : { state: 'present', checkedAt: 0 }),
  };
  const decision = run('/files/x', '81.2.69.160', { checksDone: false }, state);
  if (decision.kind !== 'redirect') return t.fail(JSON.stringify(decision));
  t.is(decision.mirror.name, 'us-files');
  t.is(decision.verdicts[0]!.reason, 'does not have it (HTTP 404)');
});

test('every mirror down: the default anyway, or 503 when so configured', (t) => {
  const allDown: MirrorStateView = { ...EVERYTHING_PRESENT, health: () => ({ up: false, reason: 'probe failed' }) };
  const fallback = run('/v2/pause/manifests/1', '81.2.69.160', {}, allDown);
  if (fallback.kind !== 'redirect') return t.fail();
  t.is(fallback.mirror.name, 'us-reg');
  const strict = compile(`mirrors:\n  a: { url: https://a.example }\nroutes:\n  - prefix: /f\n    default: a\n    whenAllDown: unavailable\n`);
  const refused = decide(facts('/f/x', '8.8.8.8'), strict, allDown);
  if (refused.kind !== 'error') return t.fail();
  t.is(refused.status, 503);
  t.is(refused.retryAfterSeconds, 30);
});

test('?mirrorlist lists every candidate with its state, best first', (t) => {
  const state: MirrorStateView = { ...EVERYTHING_PRESENT, health: (name) => (name === 'us-files' ? { up: false, reason: 'probe failed' } : { up: true }) };
  const decision = run('/files/v1/tool?mirrorlist', '81.2.69.160', {}, state);
  if (decision.kind !== 'mirrorlist') return t.fail(JSON.stringify(decision));
  t.is(decision.format, 'mirrorlist');
  t.is(decision.path, '/files/v1/tool');
  t.deepEqual(decision.entries, [
    { mirror: 'eu-files', region: 'Europe', url: 'https://eu.files.example/base/v1/tool', usable: true },
    { mirror: 'us-files', region: 'default', url: 'https://us.files.example/base/v1/tool', usable: false, reason: 'down: probe failed' },
    { mirror: 'origin-files', region: 'origin', url: 'https://origin.example/prod/v1/tool', usable: true },
  ]);
});

test('<path>.meta4 is a metalink for <path>; a list checks every unknown mirror first', (t) => {
  const decision = run('/files/v1/tool.meta4', '81.2.69.160', { checksDone: false }, ALL_UP);
  if (decision.kind !== 'check') return t.fail(JSON.stringify(decision));
  t.deepEqual(
    decision.checks.map((c) => c.mirror),
    ['eu-files', 'us-files'],
  );
  const listed = run('/files/v1/tool.meta4', '81.2.69.160');
  if (listed.kind !== 'mirrorlist') return t.fail();
  t.is(listed.format, 'metalink');
  t.is(listed.file, 'tool');
});

test('a mirror list carries the size an availability check recorded', (t) => {
  const state: MirrorStateView = { ...ALL_UP, availability: () => ({ state: 'present', contentLength: 1234, checkedAt: 0 }) };
  const listed = run('/files/v1/tool.meta4', '81.2.69.160', {}, state);
  if (listed.kind !== 'mirrorlist') return t.fail(JSON.stringify(listed));
  t.is(listed.size, 1234);
  const unsized = run('/files/v1/tool.meta4', '81.2.69.160');
  t.is(unsized.kind === 'mirrorlist' ? unsized.size : -1, undefined);
});

test('Metalink carries the sha256 that the route’s file manifest gives', (t) => {
  const file = writeConfig(`mirrors:\n  a: { url: https://a.example/kops }\nroutes:\n  - prefix: /kops\n    default: a\n    checksums: kops-1.24.0.yaml\n`);
  // A kpromo file manifest, as far as checksums go: file names below the route prefix.
  writeFileSync(join(dirname(file), 'kops-1.24.0.yaml'), `filestores:\n- base: gs://x\n  src: true\nfiles:\n- name: 1.24.0/darwin/amd64/kops\n  sha256: ${'c'.repeat(64)}\n`);
  const loaded = loadConfigFile(file);
  if (!loaded.ok) return t.fail(JSON.stringify(loaded.problems));
  const decision = decide(facts('/kops/1.24.0/darwin/amd64/kops.meta4', '8.8.8.8'), loaded.config, ALL_UP);
  if (decision.kind !== 'mirrorlist') return t.fail(JSON.stringify(decision));
  t.is(decision.sha256, 'c'.repeat(64));
  t.is(decision.entries[0]!.url, 'https://a.example/kops/1.24.0/darwin/amd64/kops');
  const unknown = decide(facts('/kops/9.9.9/kops.meta4', '8.8.8.8'), loaded.config, ALL_UP);
  t.is(unknown.kind === 'mirrorlist' ? unknown.sha256 : 'x', undefined);
});

test('with an origin, tag lists and referrers go to the origin; blobs are checked per repository', (t) => {
  const withOrigin = compile(`
mirrors:
  eu: { registry: https://eu.example, probe: false }
  origin: { registry: https://origin.example, probe: false }
routes:
  - prefix: /v2/
    regions: { Europe: eu }
    default: eu
    origin: origin
`);
  for (const path of ['/v2/app/tags/list', `/v2/app/referrers/sha256:${'e'.repeat(64)}`]) {
    const decision = decide(facts(path, '81.2.69.160'), withOrigin, EVERYTHING_PRESENT);
    if (decision.kind !== 'redirect') return t.fail();
    t.is(decision.mirror.name, 'origin', path);
    t.regex(decision.verdicts[0]!.reason!, /served from the origin only/);
  }
  const blob = decide(facts(`/v2/app/blobs/sha256:${'e'.repeat(64)}`, '81.2.69.160', { checksDone: false }), withOrigin, ALL_UP);
  if (blob.kind !== 'check') return t.fail();
  t.is(blob.checks[0]!.key, `blob:app@sha256:${'e'.repeat(64)}`);
});

test('order: latency puts the fastest mirror of a region first, without crossing regions', (t) => {
  const byLatency = compile(`
mirrors:
  slow: { url: https://slow.example }
  fast: { url: https://fast.example }
  unprobed: { url: https://unprobed.example }
  wide: { url: https://wide.example }
routes:
  - prefix: /f
    regions: { GB: [slow, unprobed, fast], Europe: wide }
    default: wide
    order: latency
`);
  const latency: Record<string, number> = { slow: 80, fast: 5, wide: 1 };
  const state: MirrorStateView = { ...EVERYTHING_PRESENT, health: (name) => ({ up: true, ...(latency[name] !== undefined ? { latencyMs: latency[name] } : {}) }) };
  const decision = decide(facts('/f/x', '81.2.69.160'), byLatency, state);
  if (decision.kind !== 'redirect') return t.fail();
  t.is(decision.mirror.name, 'fast');
  t.deepEqual(
    decision.alternatives.map((a) => a.mirror.name),
    ['slow', 'unprobed', 'wide'],
  );
});
