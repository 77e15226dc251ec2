// Server processes for the redirect benches (bench/run.ts, bench/ab.ts, bench/profile.ts):
// started, read for their port, measured by the CPU time /proc gives them, and stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { ROOT } from './bench-configs.js';

export async function startProcess(command: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve({ child, port: Number(match[1]) });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}:\n${output}`)));
  });
}

/**
 * The built redirector, as production runs it (tsx adds per-closure overhead of its own), on a
 * free loopback port; `nodeArgs` go to node before the script (bench/profile.ts: a perf map).
 */
export function startRedirector(config: string, accessLog: string, nodeArgs: readonly string[] = []): Promise<{ child: ChildProcess; port: number }> {
  return startProcess(
    process.execPath,
    [...nodeArgs, 'dist/cli.js', 'serve', '--config', config, '--port', '0', '--host', '127.0.0.1', '--no-watch', '--access-log', accessLog],
    /listening on http:\/\/127\.0\.0\.1:(\d+)/,
  );
}

/** The baseline every ratio is taken against: raw node:http answering a fixed 302 (bench/raw-302-server.ts). */
export function startRaw302(nodeArgs: readonly string[] = []): Promise<{ child: ChildProcess; port: number }> {
  return startProcess(process.execPath, [...nodeArgs, '--import', 'tsx', 'bench/raw-302-server.ts'], /listening (\d+)/);
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** USER_HZ: the unit of /proc/<pid>/stat's times (100 on Linux). */
export const CLOCK_TICKS = 100;

/**
 * CPU time (user + system) a process and its children have used so far, in microseconds, from
 * /proc: on a machine shared with other work, the server's CPU per request is a steadier measure
 * than requests/s, which also counts the time the server waited for a core.
 */
export function cpuMicroseconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS + children.reduce((sum, child) => sum + cpuMicroseconds(child), 0);
  } catch {
    return Number.NaN;
  }
}
