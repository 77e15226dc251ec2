// A real Docker engine (Debian's `docker.io`) for e2e tests, as root: dockerd with the vfs storage
// driver, no iptables, no bridge, its data root, exec root, pidfile, socket and daemon.json in a
// temp dir, and a containerd of its own (test/helpers/containerd.ts). Stopped after, with its
// exec-root/netns/default unmounted if it was left mounted.
//
// dockerd runs in a private mount namespace whose /etc/hosts sends Docker Hub's names to
// 127.0.0.1 (nothing listens on 443 there): a mirror that fails must never send the engine
// off this machine.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startContainerd, type Containerd } from './containerd.js';
import { requireTool } from './peers.js';

const run = promisify(execFile);

/** Debian's client, matching its engine (another `docker` may come first on PATH). */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

const DOCKER_HUB_NAMES = ['registry-1.docker.io', 'index.docker.io', 'auth.docker.io', 'registry.hub.docker.com', 'production.cloudflare.docker.com', 'docker.io'];

export interface DockerEngine {
  dir: string;
  socket: string;
  /** Runs `docker -H unix://<socket> ...args`; rejects with its stderr on failure. */
  docker(args: string[], timeoutMs?: number): Promise<string>;
  /** Everything dockerd logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export async function startDocker(opts: { daemonJson?: string } = {}): Promise<DockerEngine> {
  requireTool('dockerd', 'docker.io');
  requireTool(DOCKER_CLI, 'docker.io');
  requireTool('unshare', 'util-linux');
  if (process.getuid?.() !== 0) throw new Error('dockerd needs root to run: run the e2e tests as root (CI does)');
  const dir = await mkdtemp(join(tmpdir(), 'artifact-serving-docker-'));
  const socket = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  let containerd: Containerd | undefined;
  let child: ChildProcess | undefined;
  let log = '';

  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    // dockerd mounts exec-root/netns/default; in its private namespace the mount dies with it,
    // but anything still mounted under the dir in ours is unmounted before the dir is removed.
    for (const mountPoint of mountsUnder(dir).reverse()) await run('umount', ['-l', mountPoint]).catch(() => undefined);
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
      '--storage-driver', 'vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--data-root', join(dir, 'data'),
      '--exec-root', execRoot,
      '--pidfile', join(dir, 'docker.pid'),
      '--host', `unix://${socket}`,
      '--containerd', containerd.address,
      '--config-file', daemonJson,
    ];
    child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec dockerd "$@"', hosts, ...dockerdArgs], {
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
    log: () => log,
    async docker(args, timeoutMs = 120_000) {
      try {
        const { stdout } = await run(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], { timeout: timeoutMs, env: { ...process.env, DOCKER_CONFIG: join(dir, 'client') } });
        return stdout;
      } catch (error) {
        throw new Error(`docker ${args.join(' ')} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
      }
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
