// Confinement, end to end through promote(): staging reads never leave the staging folder, writes
// and deletes never leave production (after resolving `..` and symlinks), a ledger cannot name
// anything outside production, and no error prints the sha256 of a file outside staging.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { FsStore } from '../../src/promoter/stores/fs.js';
import { tree } from '../promoter/fixtures.js';
import { captureIo } from '../helpers/io.js';

const PROJECT = 'k8s-staging-demo';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** What production holds besides the promoter's own bookkeeping (lease, ledger). */
const written = async (dir: string) => (await readdir(dir)).filter((n) => n !== '.artifact-serving');

async function setup(t: import('ava').ExecutionContext) {
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const staging = join(dir, 'staging', PROJECT);
  const prod = join(dir, 'prod');
  const outside = join(dir, 'outside');
  await mkdir(staging, { recursive: true });
  await mkdir(prod, { recursive: true });
  await mkdir(outside, { recursive: true });
  const manifests = join(dir, 'manifests');
  const write = async (src: string, dest: string, files: Record<string, string>) => {
    await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
    await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
    await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${src}\n  src: true\n- base: ${dest}\n`);
    await writeFile(
      join(manifests, 'manifests', PROJECT, 'files.yaml'),
      `files:\n${Object.entries(files)
        .map(([n, s]) => `- name: ${n}\n  sha256: "${s}"\n`)
        .join('')}`,
    );
  };
  const run = async (opts: { confirm?: boolean; prune?: boolean } = {}) => {
    const { out, io } = captureIo();
    const r = await promote({ dir: manifests, confirm: opts.confirm ?? false, prune: opts.prune ?? false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, createBackends(), io);
    return { ...r, ...out };
  };
  return { dir, staging, prod, outside, write, run, url: (p: string) => `${pathToFileURL(p).href}/` };
}

test('a staging base with ".." segments cannot read /etc/hostname', async (t) => {
  const { staging, prod, write, run, url } = await setup(t);
  const real = await readFile('/etc/hostname');
  const escaping = `${url(staging)}${'../'.repeat(12)}etc/`;
  // The manifest even names the real sha256: the copy must still be refused.
  await write(escaping, url(prod), { hostname: sha(real) });
  const r = await run({ confirm: true });
  t.is(r.exitCode, 1);
  t.regex(r.stdout, /filepromoter-manifest\.yaml:\d+:\d+: base ".*" has a "\.\." segment/);
  t.deepEqual(await written(prod), [], 'nothing written to production');

  // With a wrong sha256, no error reveals the real file's digest.
  await write(escaping, url(prod), { hostname: '0'.repeat(64) });
  const wrong = await run();
  t.is(wrong.exitCode, 1);
  t.false((wrong.stdout + wrong.stderr).includes(sha(real)), wrong.stdout);
});

test('a symlink in staging that leads out is not followed (and its target is never hashed in a message)', async (t) => {
  const { staging, prod, outside, write, run, url } = await setup(t);
  const secret = 'a secret outside staging\n';
  await writeFile(join(outside, 'secret'), secret);
  await symlink(join(outside, 'secret'), join(staging, 'link'));
  await mkdir(join(staging, 'dir'));
  await symlink(outside, join(staging, 'dir', 'up'));
  await write(url(staging), url(prod), { link: '0'.repeat(64), 'dir/up/secret': sha(secret) });
  const r = await run({ confirm: true });
  t.is(r.exitCode, 1);
  t.false((r.stdout + r.stderr).includes(sha(secret)), r.stdout);
  t.regex(r.stdout, /outside .*: refusing \(a symlink leads out of the folder\)/);
  t.deepEqual(await written(prod), []);
});

test('a destination base with ".." or a symlinked folder in production writes nothing outside', async (t) => {
  const { staging, prod, outside, write, run, url } = await setup(t);
  await writeFile(join(staging, 'tool'), 'tool v1\n');
  await write(url(staging), `${url(prod)}../outside/`, { tool: sha('tool v1\n') });
  const viaDots = await run({ confirm: true });
  t.is(viaDots.exitCode, 1);
  // validate refuses it at its place now; the store refuses it too (promote-stores).
  t.regex(viaDots.stdout, /filepromoter-manifest\.yaml:\d+:\d+: base ".*" has a "\.\." segment/);
  t.deepEqual(await readdir(outside), []);

  await mkdir(join(staging, 'sub'));
  await writeFile(join(staging, 'sub', 'tool'), 'tool v1\n');
  await symlink(outside, join(prod, 'sub'));
  await write(url(staging), url(prod), { 'sub/tool': sha('tool v1\n') });
  const viaLink = await run({ confirm: true });
  t.is(viaLink.exitCode, 1);
  t.regex(viaLink.stdout + viaLink.stderr, /resolves to .*outside .*refusing/);
  t.deepEqual(await readdir(outside), []);
});

test('prune refuses a ledger naming ../victim.txt, and leaves the victim alone', async (t) => {
  const { dir, staging, prod, write, run, url } = await setup(t);
  await writeFile(join(staging, 'tool'), 'tool v1\n');
  await write(url(staging), url(prod), { tool: sha('tool v1\n') });
  t.is((await run({ confirm: true })).exitCode, 0);
  const victim = join(dir, 'victim.txt');
  await writeFile(victim, 'not yours\n');
  const ledgerFile = join(prod, '.artifact-serving/ledger/files--k8s-staging-demo.json');
  const ledger = JSON.parse(await readFile(ledgerFile, 'utf8'));
  ledger.files['../victim.txt'] = sha('not yours\n');
  await writeFile(ledgerFile, JSON.stringify(ledger));
  const r = await run({ confirm: true, prune: true });
  t.is(r.exitCode, 1);
  t.regex(r.stdout, /invalid ledger at "files"\."\.\.\/victim\.txt": file name with a "\.\." segment/);
  t.is(await readFile(victim, 'utf8'), 'not yours\n');

  // A ledger of another project (or destination), copied here, is not trusted either.
  ledger.files = { tool: sha('tool v1\n') };
  ledger.project = 'k8s-staging-other';
  await writeFile(ledgerFile, JSON.stringify(ledger));
  const other = await run({ prune: true });
  t.is(other.exitCode, 1);
  t.regex(other.stdout, /ledger belongs to project k8s-staging-other/);
});

// A folder checked once and then swapped for a symlink (by someone who can write the folder) must
// not lead a later access of the same store out: what is opened is checked, not what was resolved.
test('a folder swapped for a symlink after a first access is not followed out', async (t) => {
  const { staging, prod, outside, url } = await setup(t);
  await mkdir(join(staging, 'a'));
  await writeFile(join(staging, 'a', 'f'), 'inside');
  await writeFile(join(outside, 'f'), 'OUTSIDE');
  const store = new FsStore(url(staging));
  t.is((await store.readAll('a/f')).toString(), 'inside');
  t.deepEqual(await store.stat('a/f'), { size: 6 });
  await rename(join(staging, 'a'), join(staging, 'a-old'));
  await symlink(outside, join(staging, 'a'));
  const refusedOrMissing = async (p: Promise<unknown>) => {
    const r = await p.then(
      (v) => v,
      (e: Error) => e,
    );
    t.true(r === undefined || r instanceof Error, `not refused: ${String(r)}`);
    if (r instanceof Error) t.false(r.message.includes('OUTSIDE'));
  };
  await refusedOrMissing(store.readAll('a/f'));
  await refusedOrMissing(store.readSmall('a/f'));
  await refusedOrMissing(store.read('a/f'));
  const s = await store.stat('a/f').catch((e: Error) => e);
  t.true(s === undefined || s instanceof Error, `stat went out: ${JSON.stringify(s)}`);

  // Writes: a production folder swapped the same way gets nothing written outside.
  await mkdir(join(prod, 'b'));
  const dest = new FsStore(url(prod));
  await dest.writeText('b/one', 'first');
  await rename(join(prod, 'b'), join(prod, 'b-old'));
  await symlink(outside, join(prod, 'b'));
  await dest.writeText('b/two', 'second').catch(() => undefined);
  const batch = dest.batch();
  await batch.write('b/three', Buffer.from('third')).catch(() => undefined);
  await batch.commit().catch(() => undefined);
  t.deepEqual((await readdir(outside)).sort(), ['f'], 'nothing written outside production');
});
