import test from 'ava';
import { join } from 'node:path';
import { formatProblem } from '../../src/config/yaml-source.js';
import { loadManifests } from '../../src/promoter/load.js';
import { D1, D2, K8S_IO, tree } from '../promoter/fixtures.js';

test('loads every real k8s.io manifest as kpromo does: one error (the 63-hex digest), warnings, a note', async (t) => {
  const r = await loadManifests(K8S_IO);
  const rel = (s: string) => s.replace(`${K8S_IO}/`, '');
  const lines = r.findings.map((f) => `${f.severity} ${rel(formatProblem(f))}`);
  t.deepEqual(lines, [
    `note artifacts/files:1:1: not read: the legacy single-file form (files/<project>/manifest.yaml, 1 project(s)), which kpromo's manifest walk ignores too; to promote one, give its file: promote ${join(K8S_IO, 'artifacts/files/k8s-staging-kops/manifest.yaml')}`,
    'warning artifacts/filestores/k8s-staging-cri-tools/filepromoter-manifest.yaml:6:9: source gs://k8s-artifacts-cri-tools/release/ is outside project k8s-staging-cri-tools\'s staging area: it must have a path segment "k8s-staging-cri-tools" (admins can admit it in promoter-staging.yaml)',
    'warning artifacts/filestores/k8s-staging-provider-gcp/filepromoter-manifest.yaml:3:9: source gs://k8s-staging-cloud-provider-gcp is outside project k8s-staging-provider-gcp\'s staging area: it must have a path segment "k8s-staging-provider-gcp" (admins can admit it in promoter-staging.yaml)',
    'error registry.k8s.io/images/k8s-staging-ingress-nginx/images.yaml:203:5: invalid digest "sha256:23eb4b1775fbaa2adca55c73cf0341e1224d6308689b6f4b3aa1523312eb81c": expected sha256: and 64 lowercase hex characters; this digest is left out, the rest of e2e-test-httpbin is promoted',
    'warning registry.k8s.io/manifests/k8s-staging-boskos/promoter-manifest.yaml:47:9: registry us-west1-docker.pkg.dev/k8s-artifacts-prod/images/boskos listed twice; promoting to it once',
  ]);
  t.deepEqual([...r.skipped.keys()], []);
  const kinds = r.projects.map((p) => `${p.kind}:${p.project}`).sort();
  t.deepEqual(kinds, [
    'files:k8s-staging-cri-tools',
    'files:k8s-staging-kops', // filestores + manifests; files/ (legacy) is not read
    'files:k8s-staging-provider-aws',
    'files:k8s-staging-provider-gcp',
    'files:k8s-staging-sig-storage',
    'images:k8s-staging-apisnoop',
    'images:k8s-staging-boskos',
    'images:k8s-staging-ingress-nginx',
    'images:k8s-staging-kops',
    'images:k8s-staging-kubernetes',
    'images:k8s-staging-sig-storage',
  ]);
  const boskos = r.projects.find((p) => p.kind === 'images' && p.project === 'k8s-staging-boskos');
  t.is(boskos?.destinations.length, 21, 'the duplicate us-west1 entry is promoted to once');
  const nginx = r.projects.find((p) => p.kind === 'images' && p.project === 'k8s-staging-ingress-nginx');
  const digests = nginx?.kind === 'images' ? nginx.images.reduce((n, i) => n + i.dmap.size, 0) : 0;
  // The file lists 190 digests (issue 7 counted 189); all but the malformed one load.
  t.is(digests, 189, 'every ingress-nginx digest but the malformed one');
});

test('the legacy single-file form loads when its file is given directly', async (t) => {
  const r = await loadManifests(join(K8S_IO, 'artifacts/files/k8s-staging-kops/manifest.yaml'));
  t.deepEqual(r.findings, []);
  t.deepEqual(
    r.projects.map((p) => [p.id, p.kind === 'files' ? p.entries.length : 0]),
    [['files-legacy/k8s-staging-kops', 692]],
  );
});

test('kops images: repeated names across sections merge; flow and block dmap read alike', async (t) => {
  const r = await loadManifests(join(K8S_IO, 'registry.k8s.io'), 'k8s-staging-kops');
  const kops = r.projects[0];
  t.is(kops?.kind, 'images');
  if (kops?.kind !== 'images') return;
  const dns = kops.images.find((i) => i.name === 'dns-controller');
  t.deepEqual(dns?.dmap.get('sha256:77fc6667f8abf1ef6678fa453ac08b67db7fc229d0434f9c05ebebef447a45e7'), ['1.19.0-alpha.2']);
  t.deepEqual(dns?.dmap.get('sha256:73b5f528da74d43d798e388902fde23fcd692a77ecfb6dad75bcdad73e3f7f1e'), ['1.19.0-alpha.1']);
});

test('a staging declaration admits a differently named bucket', async (t) => {
  const r = await loadManifests(join(K8S_IO, 'artifacts'), 'k8s-staging-provider-gcp');
  t.deepEqual(
    r.findings.map((f) => f.severity),
    ['warning'],
  );
  const { dir, cleanup } = await tree({
    'promoter-staging.yaml': 'staging:\n  k8s-staging-x: [gs://other-bucket/x]\n',
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': 'filestores:\n- base: gs://other-bucket/x/rel\n  src: true\n- base: file:///tmp/prod\n',
    'manifests/k8s-staging-x/a.yaml': `files:\n- name: a\n  sha256: ${'a'.repeat(64)}\n`,
  });
  t.teardown(cleanup);
  const ok = await loadManifests(dir);
  t.deepEqual(ok.findings, []);
  t.is(ok.projects[0]?.src, 'gs://other-bucket/x/rel/');
});

test('one bad project is reported and skipped; the others load', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/good/promoter-manifest.yaml': 'registries:\n- name: 127.0.0.1:5000/good\n  src: true\n- name: 127.0.0.1:5001/prod\n',
    'images/good/images.yaml': `- name: app\n  dmap:\n    "${D1}": ["v1"]\n`,
    'manifests/bad/promoter-manifest.yaml': 'registries:\n- name: 127.0.0.1:5000/bad\n  src: true\n  srcc: true\n- name: 127.0.0.1:5001/prod\n',
    'images/bad/images.yaml': `- name: app\n  dmap:\n    "${D1}": ["v1"]\n    "${D2}": ["v1"]\n`,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.deepEqual(
    r.projects.map((p) => p.project),
    ['good'],
  );
  t.deepEqual(
    r.findings.map((f) => formatProblem(f).replace(`${dir}/`, '')),
    [`images/bad/images.yaml:4:81: tag app:v1 is already given to ${D1}; a tag can point at one digest`, 'manifests/bad/promoter-manifest.yaml:4:3: unknown key "srcc" (at registries[0])'],
  );
});

test('a directory with no manifests is an error, not silence', async (t) => {
  const { dir, cleanup } = await tree({ 'README.md': 'nothing here' });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.is(r.findings.length, 1);
  t.regex(r.findings[0]!.message, /no promoter manifests found/);
});

test('a YAML alias error is positioned and skips only its project; an anchor used 150 times loads', async (t) => {
  const more = Array.from({ length: 150 }, (_, i) => `- name: app-${i}\n  dmap:\n    "${D1}": *tags\n`).join('');
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-good/promoter-manifest.yaml': 'registries:\n- name: 127.0.0.1:5000/k8s-staging-good\n  src: true\n- name: 127.0.0.1:5001/prod\n',
    'images/k8s-staging-good/images.yaml': `- name: app\n  dmap:\n    "${D1}": &tags [v1]\n${more}`,
    'manifests/k8s-staging-bad/promoter-manifest.yaml': 'registries:\n- name: 127.0.0.1:5000/k8s-staging-bad\n  src: true\n- name: 127.0.0.1:5001/prod\n',
    'images/k8s-staging-bad/images.yaml': `- name: app\n  dmap:\n    "${D1}": [*typo]\n`,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.deepEqual(
    r.projects.map((p) => p.project),
    ['k8s-staging-good'],
  );
  t.deepEqual(
    r.findings.map((f) => `${f.severity} ${formatProblem(f).replace(`${dir}/`, '')}`),
    ['error images/k8s-staging-bad/images.yaml:3:81: unknown alias *typo: no anchor &typo before it'],
  );
  const good = r.projects[0];
  t.is(good?.kind === 'images' ? good.images.length : 0, 151);
});
