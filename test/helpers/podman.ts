// podman as a client in tests: its own storage under `root` (vfs, cgroupfs, file events), so a
// test neither needs nor touches the machine's container storage. `env` adds to process.env
// (CONTAINERS_REGISTRIES_CONF, for a registries.conf under test).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './peers.js';

const run = promisify(execFile);

export async function podman(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  requireTool('podman', 'podman');
  try {
    const { stdout } = await run('podman', ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], {
      timeout: 120_000,
      env: { ...process.env, ...env },
    });
    return stdout;
  } catch (error) {
    throw new Error(`podman ${args.join(' ')} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
  }
}
