import test from 'ava';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createServer, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseDuration, promoteCommand, validateManifestsCommand } from '../../src/promoter/cli.js';
import { LOCK_NAME } from '../../src/promoter/lease.js';
import { K8S_IO, tree } from '../promoter/fixtures.js';
import { captureIo } from '../helpers/io.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

test('help and usage errors', async (t) => {
  const a = captureIo();
  t.is(await promoteCommand(['--help'], a.io), 0);
  t.regex(a.out.stdout, /Usage: artifact-serving promote DIR/);
  const b = captureIo();
  t.is(await validateManifestsCommand(['--help'], b.io), 0);
  t.regex(b.out.stdout, /--online/);
  t.is(await promoteCommand([], captureIo().io), 2);
  t.is(await promoteCommand(['x', '--parallel', '0'], captureIo().io), 2);
  t.is(await promoteCommand(['x', '--bogus'], captureIo().io), 2);
});

test('validate the real k8s.io manifests: exactly one error, the malformed digest, exit 1', async (t) => {
  const a = captureIo();
  t.is(await validateManifestsCommand([K8S_IO], a.io), 1);
  const errors = a.out.stderr.split('\n').filter((l) => l && !/^(warning|note): /.test(l));
  t.deepEqual(
    errors.map((l) => l.replace(`${K8S_IO}/`, '').replace(/: invalid digest.*/, '')),
    ['registry.k8s.io/images/k8s-staging-ingress-nginx/images.yaml:203:5'],
  );
  t.is(a.out.stderr.split('\n').filter((l) => l.startsWith('warning: ')).length, 3);
  t.regex(a.out.stderr, /^note: .*artifacts\/files:1:1: not read: the legacy single-file form/m);
  t.is(a.out.stdout, '1 problem(s); 11 project(s) valid (1 with entries left out), 0 skipped, 3 warning(s).\n');
  const b = captureIo();
  t.is(await validateManifestsCommand([K8S_IO, '--project', 'k8s-staging-kops'], b.io), 0);
  t.is(b.out.stdout, 'OK: 2 project(s) valid.\n');
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
  const dry = captureIo();
  t.is(await promoteCommand([m], dry.io), 0, dry.out.stderr);
  t.regex(dry.out.stdout, /Would execute 1 action\(s\), 6 B; dry run: pass --confirm to execute\./);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'promote', m, '--confirm'], { cwd: REPO });
  t.regex(stdout, /done: .*copy a\.txt/);
  const again = captureIo();
  t.is(await promoteCommand([m], again.io), 0);
  t.regex(again.out.stdout, /Nothing to do: production already matches every manifest\./);
});

test('validate FILE takes a kpromo single-file manifest; a redirector config still goes to the config check', async (t) => {
  const { main } = await import('../../src/cli.js');
  const { dir, cleanup } = await tree({
    'k8s-staging-x/manifest.yaml': `registries:\n- name: 127.0.0.1:5000/k8s-staging-x\n  src: true\n- name: 127.0.0.1:5001/prod\nimages:\n- name: app\n  dmap:\n    "sha256:${'a'.repeat(64)}": ["v1"]\n`,
  });
  t.teardown(cleanup);
  const a = captureIo();
  t.is(await main(['validate', join(dir, 'k8s-staging-x/manifest.yaml')], a.io), 0, a.out.stderr);
  t.is(a.out.stdout, 'OK: 1 project(s) valid.\n');
  const b = captureIo();
  t.is(await main(['validate', join(REPO, 'config/example.yaml')], b.io), 0, b.out.stderr);
  t.regex(b.out.stdout, /example\.yaml: ok/);
});

test('--timeout, --lease-wait, --lease-stale: in the help, and a malformed duration is a usage error', async (t) => {
  const a = captureIo();
  t.is(await promoteCommand(['--help'], a.io), 0);
  for (const flag of ['--timeout T', '--lease-wait T', '--lease-stale T']) t.true(a.out.stdout.includes(flag), flag);
  const b = captureIo();
  t.is(await validateManifestsCommand(['--help'], b.io), 0);
  t.true(b.out.stdout.includes('--timeout T'));
  const bad = captureIo();
  t.is(await promoteCommand(['x', '--timeout', 'soon'], bad.io), 2);
  t.regex(bad.out.stderr, /^--timeout "soon": expected a duration such as 500ms, 90s or 5m, above 0/);
  t.is(await promoteCommand(['x', '--lease-stale', '0'], captureIo().io), 2);
  t.deepEqual(['500ms', '90s', '5m', '2', '0', '1.5s', '-1s', '5h'].map(parseDuration), [500, 90_000, 300_000, 2000, 0, 1500, undefined, undefined]);
});

test('--timeout 1s: an endpoint that accepts and never answers is unreachable within seconds, not 60 s', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const host = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  const { dir, cleanup } = await tree({
    'k8s-staging-x/manifest.yaml': `registries:\n- name: ${host}/k8s-staging-x\n  src: true\n- name: ${host}/prod\nimages:\n- name: app\n  dmap:\n    "sha256:${'a'.repeat(64)}": ["v1"]\n`,
  });
  t.teardown(cleanup);
  const a = captureIo();
  const started = Date.now();
  t.is(await promoteCommand([join(dir, 'k8s-staging-x/manifest.yaml'), '--timeout', '1s'], a.io), 1);
  t.true(Date.now() - started < 45_000, `took ${Date.now() - started} ms`);
  t.regex(a.out.stdout, /^unreachable: 127\.0\.0\.1:\d+: .*no response within 1s/m);
  t.regex(a.out.stdout, /Could not check 1 project\(s\)/);
});

test('--lease-wait 500ms: a destination another live run holds is reported locked at once, not after 60 s', async (t) => {
  const { dir, cleanup } = await tree({ 'staging/k8s-staging-x/a.txt': 'hello\n' });
  t.teardown(cleanup);
  const prod = join(dir, 'prod');
  // A lease held by a live process on this host (this one), renewed just now.
  await mkdir(join(prod, '.artifact-serving'), { recursive: true });
  const now = new Date().toISOString();
  await writeFile(join(prod, LOCK_NAME), `${JSON.stringify({ run: 'other', pid: process.pid, host: hostname(), started: now, renewed: now })}\n`);
  const { dir: m, cleanup: c2 } = await tree({
    'filestores/k8s-staging-x/filepromoter-manifest.yaml': `filestores:\n- base: ${pathToFileURL(join(dir, 'staging/k8s-staging-x')).href}/\n  src: true\n- base: ${pathToFileURL(prod).href}/\n`,
    'manifests/k8s-staging-x/a.yaml': `files:\n- name: a.txt\n  sha256: 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n`,
  });
  t.teardown(c2);
  const a = captureIo();
  const started = Date.now();
  t.is(await promoteCommand([m, '--confirm', '--lease-wait', '500ms'], a.io), 1);
  t.true(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  t.regex(a.out.stdout, new RegExp(`error: unreachable: .*no lease: .* is locked by another promote run \\(pid ${process.pid} on `));
});
