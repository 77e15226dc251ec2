import test from 'ava';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { promoteCommand, validateManifestsCommand } from '../../src/promoter/cli.js';
import { K8S_IO, tree } from '../promoter/fixtures.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) } };
}

test('help and usage errors', async (t) => {
  const a = io();
  t.is(await promoteCommand(['--help'], a.io), 0);
  t.regex(a.out.stdout, /Usage: artifact-serving promote DIR/);
  const b = io();
  t.is(await validateManifestsCommand(['--help'], b.io), 0);
  t.regex(b.out.stdout, /--online/);
  t.is(await promoteCommand([], io().io), 2);
  t.is(await promoteCommand(['x', '--parallel', '0'], io().io), 2);
  t.is(await promoteCommand(['x', '--bogus'], io().io), 2);
});

test('validate the real k8s.io manifests: positioned errors, exit 1', async (t) => {
  const a = io();
  t.is(await validateManifestsCommand([K8S_IO], a.io), 1);
  t.regex(a.out.stderr, /images\.yaml:203:5: invalid digest/);
  t.regex(a.out.stdout, /3 problem\(s\); 9 project\(s\) valid, 3 skipped\./);
  const b = io();
  t.is(await validateManifestsCommand([K8S_IO, '--project', 'k8s-staging-kops'], b.io), 0);
  t.regex(b.out.stdout, /OK: 3 project\(s\) valid\./);
});

test('promote a folder-to-folder project through promoteCommand, and once through src/cli.ts', async (t) => {
  const { dir, cleanup } = await tree({ 'staging/k8s-staging-x/a.txt': 'hello\n' });
  t.teardown(cleanup);
  const sha = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
  const { dir: m, cleanup: c2 } = await tree({
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': `filestores:\n- base: ${pathToFileURL(join(dir, 'staging/k8s-staging-x')).href}/\n  src: true\n- base: ${pathToFileURL(join(dir, 'prod')).href}/\n`,
    'manifests/k8s-staging-x/a.yaml': `files:\n- name: a.txt\n  sha256: ${sha}\n`,
  });
  t.teardown(c2);
  const dry = io();
  t.is(await promoteCommand([m], dry.io), 0, dry.out.stderr);
  t.regex(dry.out.stdout, /Would execute 1 action\(s\), 6 B; dry run: pass --confirm to execute\./);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'promote', m, '--confirm'], { cwd: REPO });
  t.regex(stdout, /done: .*copy a\.txt/);
  const again = io();
  t.is(await promoteCommand([m], again.io), 0);
  t.regex(again.out.stdout, /Nothing to do: production already matches every manifest\./);
});
