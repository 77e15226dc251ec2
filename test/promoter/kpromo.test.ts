// kpromo compatibility: the manifest forms and quirks kpromo accepts load here too.
import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem } from '../../src/config/yaml-source.js';
import { loadManifests } from '../../src/promoter/load.js';
import type { FileProject, ImageProject } from '../../src/promoter/model.js';
import { emptyObserved } from '../../src/promoter/observed.js';
import { plan } from '../../src/promoter/plan.js';
import { renderPlan } from '../../src/promoter/render.js';
import { D1, D2, K8S_IO, tree } from './fixtures.js';

const KPROMO = join(dirname(fileURLToPath(import.meta.url)), 'testdata/kpromo');
const rel = (dir: string) => (f: Parameters<typeof formatProblem>[0] & { severity: string }) => `${f.severity} ${formatProblem(f).replace(`${dir}/`, '')}`;
const REGISTRIES = 'registries:\n- name: 127.0.0.1:5000/k8s-staging-x\n  src: true\n- name: 127.0.0.1:5001/prod\n';
const FILESTORES = 'filestores:\n- base: gs://k8s-staging-x/rel/\n  src: true\n- base: file:///srv/prod/x/\n';

test("real-shaped manifests: imagesPath is a deprecated no-op, k8s-staging-images/<name> is kro's staging area", async (t) => {
  const r = await loadManifests(KPROMO);
  t.deepEqual(r.findings.map(rel(KPROMO)), [
    'warning registry.k8s.io/manifests/k8s-staging-headlamp/promoter-manifest.yaml:13:1: imagesPath is deprecated and ignored (as in kpromo): images are read from images/<project>/images.yaml',
  ]);
  const byId = new Map(r.projects.map((p) => [p.id, p as ImageProject]));
  t.is(byId.get('images/k8s-staging-kro')?.src, 'us-central1-docker.pkg.dev/k8s-staging-images/kro');
  t.deepEqual(
    byId.get('images/k8s-staging-kro')?.images.map((i) => i.name),
    ['kro', 'kro-controller'],
  );
  t.is(byId.get('images/k8s-staging-headlamp')?.destinations.length, 4);
});

test('staging-area findings are warnings by default; promoter-staging.yaml can make them errors', async (t) => {
  const files = {
    'manifests/k8s-staging-x/promoter-manifest.yaml': REGISTRIES.replace('k8s-staging-x', 'k8s-staging-images/y'),
    'images/k8s-staging-x/images.yaml': `- name: app\n  dmap:\n    "${D1}": ["v1"]\n`,
  };
  const warn = await tree(files);
  t.teardown(warn.cleanup);
  const w = await loadManifests(warn.dir);
  t.deepEqual(w.findings.map(rel(warn.dir)), [
    'warning manifests/k8s-staging-x/promoter-manifest.yaml:2:9: source 127.0.0.1:5000/k8s-staging-images/y is outside project k8s-staging-x\'s staging area: it must have a path segment "k8s-staging-x" or be <registry>/k8s-staging-images/x (admins can admit it in promoter-staging.yaml)',
  ]);
  t.is(w.projects.length, 1);
  const strict = await tree({ ...files, 'promoter-staging.yaml': 'outsideStaging: error\n' });
  t.teardown(strict.cleanup);
  const s = await loadManifests(strict.dir);
  t.deepEqual(
    s.findings.map((f) => f.severity),
    ['error'],
  );
  t.deepEqual(s.projects, []);
  t.deepEqual([...s.skipped.keys()], ['k8s-staging-x']);
  const typo = await tree({ ...files, 'promoter-staging.yaml': 'outsideStaging: fatal\n' });
  t.teardown(typo.cleanup);
  const broken = await loadManifests(typo.dir);
  t.deepEqual(
    broken.findings.map((f) => f.severity),
    ['error', 'error'],
    'a broken policy fails closed',
  );
  t.regex(broken.findings.map((f) => formatProblem(f)).join('\n'), /promoter-staging\.yaml:1:17: .*"warning"/);
  // A policy that exists but cannot be read (here a folder) fails closed too, and says so.
  const unreadable = await tree({ ...files, 'promoter-staging.yaml/keep': '' });
  t.teardown(unreadable.cleanup);
  const closed = await loadManifests(unreadable.dir);
  t.deepEqual(
    closed.findings.map((f) => f.severity),
    ['error', 'error'],
  );
  t.regex(closed.findings.map((f) => formatProblem(f)).join('\n'), /promoter-staging\.yaml:1:1: cannot read the staging policy: EISDIR/);
  t.deepEqual(closed.projects, []);
});

test('a single-file image manifest: registries and images in one file, given as a file or a project folder', async (t) => {
  const { dir, cleanup } = await tree({
    'k8s-staging-x/promoter-manifest.yaml': `${REGISTRIES}images:\n- name: app\n  dmap:\n    "${D1}": ["v1"]\n`,
    'k8s-staging-x/other.yaml': `${REGISTRIES}images:\n- name: app\n  dmap:\n    "${D2}": ["v2"]\n`,
  });
  t.teardown(cleanup);
  const asFolder = await loadManifests(join(dir, 'k8s-staging-x'));
  t.deepEqual(asFolder.findings, []);
  t.deepEqual(
    asFolder.projects.map((p) => [p.id, [...(p as ImageProject).images[0]!.dmap.keys()]]),
    [['images/k8s-staging-x', [D1]]],
  );
  const asFile = await loadManifests(join(dir, 'k8s-staging-x/other.yaml'));
  t.deepEqual(asFile.findings, []);
  t.deepEqual(
    asFile.projects.map((p) => [p.id, [...(p as ImageProject).images[0]!.dmap.keys()]]),
    [['images/k8s-staging-x', [D2]]],
  );
});

test('images listed both inline and in images.yaml is an error; a manifest without images says so', async (t) => {
  const { dir, cleanup } = await tree({
    'manifests/k8s-staging-x/promoter-manifest.yaml': `${REGISTRIES}images: []\n`,
    'images/k8s-staging-x/images.yaml': `- name: app\n  dmap:\n    "${D1}": ["v1"]\n`,
    'one/k8s-staging-y/promoter-manifest.yaml': REGISTRIES.replace('k8s-staging-x', 'k8s-staging-y'),
  });
  t.teardown(cleanup);
  t.deepEqual((await loadManifests(dir)).findings.map(rel(dir)), [`error manifests/k8s-staging-x/promoter-manifest.yaml:5:1: images are listed here and in ${dir}/images/k8s-staging-x/images.yaml: keep one of them`]);
  const one = join(dir, 'one/k8s-staging-y');
  t.deepEqual((await loadManifests(one)).findings.map(rel(one)), ['error promoter-manifest.yaml:1:1: no images: a single-file manifest lists them under "images:" (or put images.yaml beside promoter-manifest.yaml)']);
});

test('a file-promotion project folder: filepromoter-manifest.yaml beside files.yaml, or beside files/', async (t) => {
  const upper = 'A'.repeat(64);
  const { dir, cleanup } = await tree({
    'a/k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
    'a/k8s-staging-x/files.yaml': `files:\n- name: v1/x\n  sha256: ${upper}\n`,
    'b/k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
    'b/k8s-staging-x/files/v1.yaml': `files:\n- name: v1/x\n  sha256: ${'b'.repeat(64)}\n`,
    'b/k8s-staging-x/files/old/v0.yaml': `files:\n- name: v0/x\n  sha256: ${'c'.repeat(64)}\n`,
    'c/k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
  });
  t.teardown(cleanup);
  const a = await loadManifests(join(dir, 'a/k8s-staging-x'));
  t.deepEqual(a.findings, []);
  const pa = a.projects[0] as FileProject;
  t.is(pa.id, 'files/k8s-staging-x');
  t.deepEqual(pa.entries, [{ name: 'v1/x', sha256: 'a'.repeat(64), rollback: false }], 'upper-case hex is accepted and compared in lower case');
  const b = await loadManifests(join(dir, 'b/k8s-staging-x'));
  t.deepEqual(b.findings, []);
  t.deepEqual((b.projects[0] as FileProject).entries.map((e) => e.name).sort(), ['v0/x', 'v1/x'], 'files/ is read with its subfolders, as kpromo walks it');
  const c = join(dir, 'c/k8s-staging-x');
  t.deepEqual((await loadManifests(c)).findings.map(rel(c)), ['error filepromoter-manifest.yaml:1:1: no files lists: expected files.yaml or a files/ folder beside this file']);
});

test('one malformed digest leaves out only that edge: promote plans every other ingress-nginx digest', async (t) => {
  const r = await loadManifests(K8S_IO, 'k8s-staging-ingress-nginx');
  t.deepEqual(
    r.findings.map((f) => [f.severity, f.entryOnly, f.line, f.column]),
    [['error', true, 203, 5]],
  );
  const p = r.projects[0] as ImageProject;
  // Staging holds every listed digest; production is empty.
  const observed = emptyObserved();
  observed.registries.set(p.src, new Map(p.images.map((i) => [i.name, { tags: new Map(), digests: new Set(i.dmap.keys()) }])));
  const planned = plan(r.projects, observed, { prune: false });
  const pp = planned.projects[0]!;
  t.deepEqual(pp.errors, []);
  t.true(pp.destinations.length > 1);
  for (const d of pp.destinations) t.is(d.actions.filter((a) => a.kind === 'copy-image').length, 189, d.destination);
  t.false(pp.destinations.some((d) => d.actions.some((a) => a.kind === 'copy-image' && a.digest.length !== 71)));
  const text = renderPlan(planned, r.skipped, { confirm: false, leftOut: 1 });
  t.regex(text, /Would execute \d+ action\(s\), 0 B; left out 1 invalid manifest entry \(see the errors above\); dry run/);
});

test('a filestore base that climbs with ".." is an error at its place, before any run', async (t) => {
  const { dir, cleanup } = await tree({
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': 'filestores:\n- base: file:///srv/staging/k8s-staging-x/../../../../etc/\n  src: true\n- base: file:///srv/prod/x/\n',
    'manifests/k8s-staging-x/files.yaml': `files:\n- name: hostname\n  sha256: ${'a'.repeat(64)}\n`,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  const errors = r.findings.filter((f) => f.severity === 'error').map(rel(dir));
  t.deepEqual(errors, ['error filestores/k8s-staging-x/filepromoter-manifest.yaml:2:9: base "file:///srv/staging/k8s-staging-x/../../../../etc/" has a ".." segment: a base must name its folder or prefix directly']);
});
