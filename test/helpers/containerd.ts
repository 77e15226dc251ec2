// A real containerd (Debian's `containerd` package) with its own root, state and socket in a
// temp dir, so a test can pull through the redirector the way Kubernetes nodes do. Content is
// only fetched (`ctr content fetch`), never unpacked: no snapshotter or mounts are needed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './peers.js';
import { tempDir } from './temp-dir.js';

const run = promisify(execFile);

export interface Containerd {
  address: string;
  dir: string;
  /** Runs `ctr --address <socket> ...args`; rejects with its stderr on failure. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<Containerd> {
  requireTool('containerd', 'containerd');
  requireTool('ctr', 'containerd');
  if (process.getuid?.() !== 0) throw new Error('containerd needs root to run: run the e2e tests as root (CI does)');
  const dir = tempDir('artifact-serving-containerd-');
  const address = join(dir, 'containerd.sock');
  await writeFile(
    join(dir, 'config.toml'),
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
`,
  );
  const child: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const ctr = async (args: string[], timeoutMs = 60_000) => {
    try {
      const { stdout } = await run('ctr', ['--address', address, ...args], { timeout: timeoutMs });
      return stdout;
    } catch (error) {
      throw new Error(`ctr ${args.join(' ')} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
    }
  };
  // Ready when containerd says it is serving (it logs that line once its socket accepts).
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`containerd did not start within 15 s:\n${log}`)), 15_000);
    const check = () => {
      if (/containerd successfully booted/.test(log)) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`containerd exited with ${code}:\n${log}`));
    });
  });
  return {
    address,
    dir,
    ctr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
