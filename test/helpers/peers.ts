/**
 * Real peers for end-to-end tests: a distribution registry (Debian package `docker-registry`),
 * nginx serving static files, and a `skopeo` runner. Everything listens on 127.0.0.1 only.
 *
 * Every started peer is a child process that must be stopped with `peer.stop()` (register it
 * with ava's `t.teardown`). As a safety net, peers still running when the test process exits
 * are killed, and temp dirs created here are removed then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir } from './temp-dir.js';

export interface Peer {
  /** Base URL, e.g. "http://127.0.0.1:PORT" (no trailing slash). */
  url: string;
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  /** Registry: its storage dir (reusable via startRegistry({dir})). nginx: the document root. */
  dir: string;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s); idempotent; resolves once it has exited. */
  stop(): Promise<void>;
}

const STARTUP_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const LOOPBACK = '127.0.0.1';

// ---------------------------------------------------------------------------------------------
// Safety net: kill what is still running and remove temp dirs when the test process exits.

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) killChild(child, 'SIGKILL');
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

async function makeTempDir(prefix: string): Promise<string> {
  installExitHook();
  const dir = tempDir(`artifact-serving-${prefix}-`);
  tempDirs.add(dir);
  return dir;
}

function killChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

const EXTRA_PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findBinary(binary: string): string | undefined {
  if (binary.includes('/')) {
    return isExecutable(binary) ? binary : undefined;
  }
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_PATH_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws "missing tool X: install the Debian package Y (apt-get install Y)" when `binary` is absent. */
export function requireTool(binary: string, debianPackage: string): void {
  resolveTool(binary, debianPackage);
}

function resolveTool(binary: string, debianPackage: string): string {
  const found = findBinary(binary);
  if (found === undefined) {
    throw new Error(`missing tool ${binary}: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Ports

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return bindAndRelease(0);
}

/**
 * A loopback port nothing listens on, for "connection refused": below the kernel's ephemeral
 * range, so that no server of a concurrent test (they all bind port 0) is given it while the test
 * runs. A port from freePort() was: in CI a parallel test's server took the closed port, and the
 * "refused" host answered as a silent one.
 */
export async function refusedPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual default
  }
  const from = Math.max(1024, low - 12_000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const free = await bindAndRelease(port).then(
      () => true,
      () => false,
    );
    if (free) return port;
  }
  throw new Error(`refusedPort: no free port in ${from}-${low - 1}`);
}

/** Listens on 127.0.0.1 at `port` (0: one the OS picks) and closes again: the port it had. */
function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: unexpected server address'));
        return;
      }
      const bound = address.port;
      server.close((err) => (err ? reject(err) : resolve(bound)));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Generic supervised child process

interface Supervised {
  child: ChildProcess;
  logPath: string;
  exited: Promise<void>;
  stop(): Promise<void>;
}

function spawnSupervised(command: string, args: string[], logPath: string, env: NodeJS.ProcessEnv): Supervised {
  installExitHook();
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // stdout and stderr both go to the log file: never to our own pipes, so a leftover peer
    // cannot hold a test runner's output open. Not detached: peers stay in the test runner's
    // process group, so a signal to the whole run (Ctrl-C, `timeout`) reaches them too.
    child = spawn(command, args, { stdio: ['ignore', logFd, logFd], env });
  } finally {
    closeSync(logFd);
  }
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      running.delete(child);
      resolve();
    };
    child.once('exit', done);
    child.once('error', done); // spawn failure: no 'exit' follows
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        await exited;
        return;
      }
      killChild(child, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          killChild(child, 'SIGKILL');
          resolve();
        }, STOP_GRACE_MS);
      });
      await Promise.race([exited, forced]);
      clearTimeout(timer);
      await exited;
    })();
    return stopping;
  };
  return { child, logPath, exited, stop };
}

function tail(path: string, maxChars = 4000): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
  } catch {
    return '(no log)';
  }
}

/**
 * Decides from a probe's answer that *our* process is up. Each peer answers with a per-start token,
 * so a stranger that grabbed the port in between (the peer then exits) is never taken for it.
 */
type Probe = (status: number, headers: Headers, body: string) => boolean;

const TOKEN_HEADER = 'x-artifact-serving-peer';

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probeUrl` until `isReady(response)` or the deadline; fails at once when the process exits.
 * Returns 'exited' when the process died before it was ready (caller decides to retry or fail).
 */
async function waitReady(proc: Supervised, probeUrl: string, isReady: Probe, deadlineMs: number): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + deadlineMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) return 'exited';
    const remaining = deadline - Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(1, Math.min(2000, remaining)));
    const probe = (async () => {
      const res = await fetch(probeUrl, { signal: abort.signal });
      const body = await res.text();
      return isReady(res.status, res.headers, body);
    })().catch(() => false); // not listening yet
    // Stop waiting on the probe as soon as the process dies (someone else may hold the port).
    const ready = await Promise.race([probe, proc.exited.then(() => false)]);
    clearTimeout(timer);
    abort.abort();
    if (ready) return exited ? 'exited' : 'ready';
    if (exited) return 'exited';
    // Connection refused comes back instantly: pace the loop, but wake up if the process dies.
    await Promise.race([delay(50), proc.exited]);
  }
  return exited ? 'exited' : 'timeout';
}

function cleanEnv(dropPrefixes: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (dropPrefixes.some((prefix) => key.startsWith(prefix))) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Starts a process on a port, waits until it answers; when no port was asked for and the process
 * died during startup (e.g. the free port was taken in between), retries with another port.
 */
async function startOnPort(name: string, wantedPort: number | undefined, launch: (port: number) => Promise<{ proc: Supervised; probeUrl: string; isReady: Probe }>): Promise<{ proc: Supervised; port: number }> {
  const attempts = wantedPort === undefined ? 3 : 1;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = wantedPort ?? (await freePort());
    const { proc, probeUrl, isReady } = await launch(port);
    const outcome = await waitReady(proc, probeUrl, isReady, STARTUP_DEADLINE_MS);
    if (outcome === 'ready') return { proc, port };
    await proc.stop();
    const code = proc.child.exitCode ?? proc.child.signalCode;
    lastError = outcome === 'timeout' ? `${name} did not answer ${probeUrl} within ${STARTUP_DEADLINE_MS} ms` : `${name} exited during startup (code ${String(code)}) on port ${port}`;
    lastError += `\n--- tail of ${proc.logPath} ---\n${tail(proc.logPath)}`;
    // Retry only a lost race for the port; any other failure would just repeat.
    if (outcome === 'timeout' || !/address already in use/i.test(tail(proc.logPath, 2000))) break;
  }
  throw new Error(lastError);
}

function makePeer(port: number, dir: string, proc: Supervised): Peer {
  const host = `${LOOPBACK}:${port}`;
  return { url: `http://${host}`, host, port, dir, stop: proc.stop };
}

// ---------------------------------------------------------------------------------------------
// docker-registry (distribution 2.8)

function registryConfig(rootDir: string, port: number, token: string, htpasswd?: string): string {
  // JSON is valid YAML; distribution's config parser accepts it.
  return `version: 0.1
log:
  level: error
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${JSON.stringify(rootDir)}
  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: false
http:
  addr: ${LOOPBACK}:${port}
  secret: ${randomBytes(16).toString('hex')}
  headers:
    X-Content-Type-Options: [nosniff]
    ${TOKEN_HEADER}: [${token}]
health:
  storagedriver:
    enabled: false
${htpasswd ? `auth:\n  htpasswd:\n    realm: ${token}\n    path: ${JSON.stringify(htpasswd)}\n` : ''}`;
}

/**
 * docker-registry with filesystem storage in a fresh temp dir (or `opts.dir`, to restart a stopped
 * registry with its data), deletes enabled, on 127.0.0.1:<free port or opts.port>.
 * `opts.htpasswd`: a bcrypt htpasswd file: every request then needs Basic auth (`htpasswd -B`,
 * Debian apache2-utils, makes one). Resolves once GET /v2/ answers 200 (401 with auth).
 */
export async function startRegistry(opts: { dir?: string; port?: number; htpasswd?: string } = {}): Promise<Peer> {
  const binary = resolveTool('docker-registry', 'docker-registry');
  const dir = opts.dir ?? (await makeTempDir('registry'));
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'registry-config.yml');
  const logPath = join(dir, 'registry-stderr.log');
  const env = cleanEnv(['REGISTRY_', 'OTEL_']);
  const { proc, port } = await startOnPort('docker-registry', opts.port, async (port) => {
    const token = randomBytes(8).toString('hex');
    await writeFile(configPath, registryConfig(dir, port, token, opts.htpasswd));
    const proc = spawnSupervised(binary, ['serve', configPath], logPath, env);
    // With auth, the realm in the challenge is the token: it is this registry that answers.
    const isReady: Probe = opts.htpasswd ? (status, headers) => status === 401 && (headers.get('www-authenticate') ?? '').includes(token) : (status, headers) => status === 200 && headers.get(TOKEN_HEADER) === token;
    return { proc, probeUrl: `http://${LOOPBACK}:${port}/v2/`, isReady };
  });
  return makePeer(port, dir, proc);
}

// ---------------------------------------------------------------------------------------------
// nginx

function nginxConfig(prefix: string, root: string, port: number, extraServerConfig: string, token: string): string {
  const q = (s: string): string => JSON.stringify(s); // nginx accepts double-quoted strings with \" escapes
  // As root, workers would otherwise drop to "nobody" and could not read a 0700 temp dir.
  const userLine = process.getuid?.() === 0 ? 'user root;\n' : '';
  // master_process off: one single process, so stopping it leaves no orphaned workers.
  return `${userLine}master_process off;
pid ${q(join(prefix, 'nginx.pid'))};
error_log stderr warn;
events {
  worker_connections 256;
}
http {
  default_type application/octet-stream;
  types {
    application/json json;
    text/plain txt;
    text/html html;
  }
  access_log off;
  sendfile on;
  keepalive_timeout 5;
  client_body_temp_path ${q(join(prefix, 'client_body_temp'))};
  proxy_temp_path ${q(join(prefix, 'proxy_temp'))};
  fastcgi_temp_path ${q(join(prefix, 'fastcgi_temp'))};
  uwsgi_temp_path ${q(join(prefix, 'uwsgi_temp'))};
  scgi_temp_path ${q(join(prefix, 'scgi_temp'))};
  server {
    listen ${LOOPBACK}:${port};
    server_name _;
    root ${q(root)};
    absolute_redirect off;
    location = /.artifact-serving-peer-ready {
      default_type text/plain;
      return 200 "${token}";
    }
${extraServerConfig}
  }
}
`;
}

/**
 * nginx serving static files from `opts.root` (a temp dir when absent) on 127.0.0.1:<free port or
 * opts.port>, as the current user, with prefix/pid/logs/temp paths in its own temp dir.
 * `opts.extraServerConfig` is raw text inserted into the server{} block.
 * Resolves once it answers HTTP. peer.dir is the document root.
 */
export async function startNginx(opts: { root?: string; port?: number; extraServerConfig?: string } = {}): Promise<Peer> {
  const binary = resolveTool('nginx', 'nginx');
  const root = opts.root ?? (await makeTempDir('nginx-root'));
  await mkdir(root, { recursive: true });
  const prefix = await makeTempDir('nginx-prefix');
  const configPath = join(prefix, 'nginx.conf');
  const logPath = join(prefix, 'nginx-stderr.log');
  const { proc, port } = await startOnPort('nginx', opts.port, async (port) => {
    const token = randomBytes(8).toString('hex');
    await writeFile(configPath, nginxConfig(prefix, root, port, opts.extraServerConfig ?? '', token));
    // -e stderr: do not even try the compiled-in /var/log/nginx/error.log before the config is read.
    const args = ['-p', prefix, '-c', configPath, '-e', 'stderr', '-g', 'daemon off;'];
    const proc = spawnSupervised(binary, args, logPath, process.env);
    const isReady: Probe = (status, _headers, body) => status === 200 && body === token;
    return { proc, probeUrl: `http://${LOOPBACK}:${port}/.artifact-serving-peer-ready`, isReady };
  });
  return makePeer(port, root, proc);
}

// ---------------------------------------------------------------------------------------------
// skopeo

/**
 * Runs skopeo with exactly `args` (nothing added but a timeout: opts.timeoutMs, default 60 s).
 * Rejects with stderr in the message when the exit code is not 0, unless opts.allowFail.
 */
export function skopeo(args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  let binary: string;
  try {
    binary = resolveTool('skopeo', 'skopeo');
  } catch (err) {
    return Promise.reject(err);
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    installExitHook();
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const exitCode = code ?? 128;
      const cmd = `skopeo ${args.join(' ')}`;
      if (timedOut) {
        reject(new Error(`${cmd}: timed out after ${timeoutMs} ms\n${stderr}`));
        return;
      }
      if (exitCode !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd}: exit ${signal ?? exitCode}\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr, code: exitCode });
    });
  });
}
