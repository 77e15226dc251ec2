// A real Docker engine (Debian's `docker.io`) for e2e tests, as root: dockerd with the vfs storage
// driver (or overlay2, for builds), no iptables, no bridge, its data root, exec root, pidfile, socket and daemon.json in a
// temp dir, and a containerd of its own (test/helpers/containerd.ts). Stopped after, with its
// exec-root/netns/default unmounted if it was left mounted.
//
// dockerd runs in a mount namespace of its own whose /etc/hosts sends Docker Hub's names to
// 127.0.0.1 (nothing listens on 443 there): a mirror that fails must never send the engine
// off this machine. Only its exec and data roots are shared with ours (see startDocker), so containers and
// builds with `--network host`, and overlay2, work too. Networks it creates (a compose network's bridge) are
// deleted from the host after it stops.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startContainerd, type Containerd } from './containerd.js';
import { requireTool } from './peers.js';
import { tempDir } from './temp-dir.js';

const run = promisify(execFile);

/** Debian's client, matching its engine (another `docker` may come first on PATH). */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

const DOCKER_HUB_NAMES = ['registry-1.docker.io', 'index.docker.io', 'auth.docker.io', 'registry.hub.docker.com', 'production.cloudflare.docker.com', 'docker.io'];

export interface DockerEngine {
  dir: string;
  socket: string;
  /** DOCKER_HOST (this engine), DOCKER_CONFIG (a client dir of its own) and DOCKER_BUILDKIT=0 (the legacy builder, all Debian ships), on top of process.env: for other clients such as docker-compose. */
  env: NodeJS.ProcessEnv;
  /** Runs `docker -H unix://<socket> ...args`; rejects with its stderr on failure. */
  docker(args: string[], timeoutMs?: number): Promise<string>;
  /** `docker import` of a root file system tarball as `tag`, with Dockerfile `changes` (ENV, CMD...). */
  importImage(tar: string, tag: string, changes?: string[]): Promise<string>;
  /** Everything dockerd logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** overlay2 where the kernel has overlayfs (each image layer then holds only its changes), else vfs (a full copy per layer: fine for pulls, very slow for builds). */
export function fastStorageDriver(): 'overlay2' | 'vfs' {
  try {
    return /\boverlay\b/.test(readFileSync('/proc/filesystems', 'utf8')) ? 'overlay2' : 'vfs';
  } catch {
    return 'vfs';
  }
}

export async function startDocker(opts: { daemonJson?: string; storageDriver?: 'vfs' | 'overlay2' } = {}): Promise<DockerEngine> {
  requireTool('dockerd', 'docker.io');
  requireTool(DOCKER_CLI, 'docker.io');
  requireTool('unshare', 'util-linux');
  if (process.getuid?.() !== 0) throw new Error('dockerd needs root to run: run the e2e tests as root (CI does)');
  const dir = tempDir('artifact-serving-docker-');
  const socket = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  const dataRoot = join(dir, 'data');
  let containerd: Containerd | undefined;
  let child: ChildProcess | undefined;
  let log = '';

  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client'), DOCKER_BUILDKIT: '0' };
  const docker = async (args: string[], timeoutMs = 120_000) => {
    try {
      const { stdout } = await run(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], { timeout: timeoutMs, env, maxBuffer: 64 << 20 });
      return stdout;
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; killed?: boolean; message: string };
      const why = e.killed ? `timed out after ${timeoutMs / 1000} s` : e.stderr || e.message;
      throw new Error(`docker ${args.join(' ')} failed: ${why}${e.stdout ? `\n${e.stdout.slice(-4000)}` : ''}`);
    }
  };

  const stop = async () => {
    // Bridges of networks it created (a compose network) are host interfaces that outlive
    // dockerd and its data root: note them before it stops, delete them after.
    let bridges: string[] = [];
    if (child && child.exitCode === null && child.signalCode === null) {
      bridges = await docker(['network', 'ls', '--quiet', '--no-trunc', '--filter', 'driver=bridge'], 15_000).then(
        (out) =>
          out
            .split('\n')
            .filter(Boolean)
            .map((id) => `br-${id.slice(0, 12)}`),
        () => [],
      );
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    // dockerd mounts exec-root/netns/default and overlays, and they show here too (shared
    // roots): everything still mounted under the dir in ours is unmounted before it is removed.
    for (const mountPoint of mountsUnder(dir).reverse()) await run('umount', ['-l', mountPoint]).catch(() => undefined);
    for (const bridge of bridges) {
      if (existsSync(`/sys/class/net/${bridge}`)) await run('ip', ['link', 'delete', bridge]).catch(() => undefined);
    }
    await containerd?.stop();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    containerd = await startContainerd();
    const daemonJson = join(dir, 'daemon.json');
    await writeFile(daemonJson, opts.daemonJson ?? '{}\n');
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, `127.0.0.1 localhost\n::1 localhost\n${DOCKER_HUB_NAMES.map((name) => `127.0.0.1 ${name}`).join('\n')}\n`);
    const dockerdArgs = [
      '--storage-driver',
      opts.storageDriver ?? 'vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--host',
      `unix://${socket}`,
      '--containerd',
      containerd.address,
      '--config-file',
      daemonJson,
    ];
    // The exec and data roots are shared mounts, so that what dockerd mounts there from its
    // namespace is seen by runc, which containerd starts in ours: exec-root/netns/default (the
    // host network namespace `--network host` containers and builds join; without it runc's
    // setns fails with EINVAL, "can't get final child's PID from pipe") and overlay2's root file
    // systems ("stat /bin/sh: no such file"). Inside, only the mount that holds /etc/hosts is
    // made private before the bind over it, so that stays dockerd's own.
    for (const root of [execRoot, dataRoot]) {
      await mkdir(root, { recursive: true });
      await run('mount', ['--bind', root, root]);
      await run('mount', ['--make-shared', root]);
    }
    const script = 'mount --make-private "$(findmnt -n -o TARGET --target /etc/hosts)" && mount --bind "$0" /etc/hosts && exec dockerd "$@"';
    child = spawn('unshare', ['--mount', '--propagation', 'unchanged', '--', 'sh', '-c', script, hosts, ...dockerdArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (log += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`dockerd exited with ${code} during start-up:\n${log}`);
    });
    exited.catch(() => undefined);
    const deadline = Date.now() + 60_000;
    while (!(await Promise.race([ping(socket), exited]))) {
      if (Date.now() > deadline) throw new Error(`dockerd did not answer /_ping on ${socket} within 60 s:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    dir,
    socket,
    env,
    log: () => log,
    docker,
    async importImage(tar, tag, changes = []) {
      return (await docker(['import', ...changes.flatMap((change) => ['--change', change]), tar, tag], 600_000)).trim();
    },
    stop,
  };
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Mount points at or below `dir` in this process's mount namespace, outermost first. */
function mountsUnder(dir: string): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
  } catch {
    return [];
  }
}
