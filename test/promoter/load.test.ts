// Walking a manifests tree: a folder that exists but cannot be read (a symlink loop, a file where
// a folder is expected) is reported with its path and the reason, and skips what it concerns,
// instead of counting as empty (which would plan, or prune, a project without its lists).
import test from 'ava';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { formatProblem } from '../../src/config/yaml-source.js';
import { loadManifests } from '../../src/promoter/load.js';
import { tree } from './fixtures.js';

const rel = (dir: string) => (f: Parameters<typeof formatProblem>[0] & { severity: string }) => `${f.severity} ${formatProblem(f).replace(`${dir}/`, '')}`;
const FILESTORES = 'filestores:\n- base: gs://k8s-staging-x/rel/\n  src: true\n- base: file:///srv/prod/x/\n';
const FILES = `files:\n- name: a\n  sha256: ${'a'.repeat(64)}\n`;

test("a project's files folder that is a symlink loop is an error naming it, and the project is skipped", async (t) => {
  const { dir, cleanup } = await tree({
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
    'filestores/k8s-staging-y/filepromoter-manifest.yaml': FILESTORES.replace(/-x/g, '-y'),
    'manifests/k8s-staging-y/files.yaml': FILES,
  });
  t.teardown(cleanup);
  await symlink('k8s-staging-x', join(dir, 'manifests/k8s-staging-x'));
  const r = await loadManifests(dir);
  t.deepEqual(r.findings.map(rel(dir)), [`error manifests/k8s-staging-x:1:1: cannot read this folder: ELOOP: too many symbolic links encountered, scandir '${dir}/manifests/k8s-staging-x'`]);
  t.deepEqual(
    r.projects.map((p) => p.project),
    ['k8s-staging-y'],
  );
  t.deepEqual([...r.skipped.keys()], ['k8s-staging-x']);
});

test("a file where a project's files folder is expected (ENOTDIR) is an error naming it", async (t) => {
  const { dir, cleanup } = await tree({
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
    'manifests/k8s-staging-x': FILES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(dir);
  t.deepEqual(r.findings.map(rel(dir)), [`error manifests/k8s-staging-x:1:1: cannot read this folder: ENOTDIR: not a directory, scandir '${dir}/manifests/k8s-staging-x'`]);
  t.deepEqual(r.projects, []);
  t.deepEqual([...r.skipped.keys()], ['k8s-staging-x']);
});

test('a project folder whose files/ is a file, not a folder, is an error; files.yaml beside it is not promoted alone', async (t) => {
  const { dir, cleanup } = await tree({
    'k8s-staging-x/filepromoter-manifest.yaml': FILESTORES,
    'k8s-staging-x/files.yaml': FILES,
    'k8s-staging-x/files': FILES,
  });
  t.teardown(cleanup);
  const r = await loadManifests(join(dir, 'k8s-staging-x'));
  t.deepEqual(r.findings.map(rel(dir)), [`error k8s-staging-x/files:1:1: cannot read this folder: ENOTDIR: not a directory, scandir '${dir}/k8s-staging-x/files'`]);
  t.deepEqual(r.projects, []);
});

test('a manifests path that is a symlink loop is reported with the reason, not only as "no manifests"', async (t) => {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const loop = join(dir, 'k8s.io');
  await symlink('k8s.io', loop);
  const r = await loadManifests(loop);
  t.deepEqual(r.findings.map(rel(dir))[0], `error k8s.io:1:1: cannot read this folder: ELOOP: too many symbolic links encountered, scandir '${loop}'`);
});
