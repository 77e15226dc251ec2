// Running the redirector in tests: in-process (fast, with access to its holder) or as the real
// CLI process (for signals, start-up errors and the e2e tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/yaml-source.js';
import { NO_CHECKS, type MirrorStateService } from '../../src/mirrors/state-view.js';
import { createRedirectorServer } from '../../src/server/app.js';
import { createMetrics, type RedirectorMetrics } from '../../src/server/metrics.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface InProcessRedirector {
  url: string;
  holder: ConfigHolder;
  metrics: RedirectorMetrics;
  close(): Promise<void>;
}

export async function startRedirector(configFile: string, state: MirrorStateService = NO_CHECKS): Promise<InProcessRedirector> {
  const loaded = loadConfigFile(configFile);
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  const holder = new ConfigHolder(configFile, loaded.config);
  const metrics = createMetrics();
  const server = createRedirectorServer({ holder, state, metrics }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    holder,
    metrics,
    async close() {
      holder.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export interface RedirectorProcess {
  url: string;
  child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when stderr has a line matching `pattern` (after `from` characters), or rejects after timeoutMs. */
  waitForLog(pattern: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The real CLI (`tsx src/cli.ts serve`), on a free port it reports itself. */
export async function startRedirectorProcess(configFile: string, extraArgs: string[] = [], nodeArgs: string[] = []): Promise<RedirectorProcess> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', 'src/cli.ts', 'serve', '--config', configFile, '--port', '0', '--host', '127.0.0.1', ...(extraArgs.includes('--access-log') ? [] : ['--access-log', 'off']), ...extraArgs],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const waiter of waiters) waiter();
  });
  child.stdout!.resume();
  const waitForLog = (pattern: RegExp, timeoutMs = 15_000, from = 0) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stderr.slice(from));
        if (match) {
          cleanup();
          resolve(match[0]);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`redirector exited before logging ${pattern}:\n${stderr}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${stderr}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });
  // Generous: a cold tsx start on a loaded 2-core machine took up to 15 s. A server that did not
  // come up is killed, so a failed start never leaves a process behind (or ava waiting on it).
  let line: string;
  try {
    line = await waitForLog(/listening on https?:\/\/127\.0\.0\.1:(\d+)/, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = /:(\d+)$/.exec(line)![1];
  return {
    url: `${line.includes('https:') ? 'https' : 'http'}://127.0.0.1:${port}`,
    child,
    stderr: () => stderr,
    waitForLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** One line of the redirector's JSON access log (`serve --access-log <file>`): the fields tests read. */
export interface AccessLogLine {
  method: string;
  path: string;
  status: number;
  mirror?: string;
}

/**
 * The access-log lines whose path starts with `prefix`, once `done` says they are all written
 * (the log is flushed each turn of the server's event loop), or what is there after 10 s.
 */
export async function accessLogLines(file: string, prefix: string, done: (lines: AccessLogLine[]) => boolean): Promise<AccessLogLine[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const lines = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AccessLogLine)
      .filter((l) => l.path.startsWith(prefix));
    if (done(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
