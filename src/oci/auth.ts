// Registry credentials and the two challenge schemes of the distribution spec: Basic, and Bearer
// tokens from the realm named in WWW-Authenticate (docker's token protocol). Credentials come
// from docker's config.json: `credHelpers.<host>` names a helper for that host, `credsStore` one
// for every other host, else inline `auths.<host>.auth` (base64 "user:password"). Helpers are run
// as docker does: `docker-credential-<name> get`, the server on stdin, JSON on stdout.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../util/error-message.js';

export interface Credentials {
  username: string;
  password: string;
}

export type CredentialLookup = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `Bearer realm="https://auth",service="registry",scope="repository:x:pull"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) params[(p[1] as string).toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: (m[1] as string).toLowerCase(), params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** A credential helper's output for one server, or undefined if it has none. */
export type HelperRunner = (helper: string, server: string) => Promise<Credentials | undefined>;

const HELPER_TIMEOUT_MS = 30_000;

/** Run `docker-credential-<helper> get` with `server` on stdin (the docker credential helper protocol). */
const runHelper: HelperRunner = (helper, server) =>
  new Promise((resolve, reject) => {
    const binary = `docker-credential-${helper}`;
    const child = execFile(binary, ['get'], { timeout: HELPER_TIMEOUT_MS, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return reject(new Error(`credential helper ${binary} (docker config, for ${server}) is not on PATH`));
        // The protocol's answer for "no credentials for this server".
        if (/credentials not found/i.test(`${stdout}${stderr}`)) return resolve(undefined);
        return reject(new Error(`credential helper ${binary} get ${server} failed: ${(stderr || stdout || error.message).trim().slice(0, 300)}`));
      }
      try {
        const out = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!out.Secret) return resolve(undefined);
        resolve({ username: out.Username ?? '', password: out.Secret });
      } catch {
        reject(new Error(`credential helper ${binary} get ${server}: output is not JSON`));
      }
    });
    child.stdin?.end(server);
  });

/** Read docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json); empty if absent. */
export async function dockerCredentials(env: { DOCKER_CONFIG?: string | undefined } = process.env): Promise<CredentialLookup> {
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as DockerConfig;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw new Error(`${file}: ${errorMessage(e)}`);
  }
  return credentialsFromConfig(config);
}

/** A docker config.json at `file` (serve's `trust.credentials`): its lookup; throws naming the file when it cannot be read. */
export async function credentialsFile(file: string): Promise<CredentialLookup> {
  try {
    return credentialsFromConfig(JSON.parse(await readFile(file, 'utf8')) as DockerConfig);
  } catch (e) {
    throw new Error(`${file}: ${errorMessage(e)}`);
  }
}

export function credentialsFromConfig(config: DockerConfig, helper: HelperRunner = runHelper): CredentialLookup {
  const byHost = new Map<string, Credentials>();
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    // Keys may be bare hosts or URLs (https://index.docker.io/v1/).
    const host = key.replace(/^https?:\/\//, '').split('/')[0] as string;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) byHost.set(host, { username: decoded.slice(0, i), password: decoded.slice(i + 1) });
    } else if (entry.username && entry.password) {
      byHost.set(host, { username: entry.username, password: entry.password });
    }
  }
  const helpers = new Map<string, string>();
  for (const [key, name] of Object.entries(config.credHelpers ?? {})) helpers.set(key.replace(/^https?:\/\//, '').split('/')[0] as string, name);
  const asked = new Map<string, Promise<Credentials | undefined>>();
  return (host) => {
    const name = helpers.get(host) ?? (byHost.has(host) ? undefined : config.credsStore);
    if (!name) return byHost.get(host);
    // Asked once per host and run: helpers may prompt a keychain or call a cloud API.
    let p = asked.get(host);
    if (!p) {
      p = helper(name, host);
      p.catch(() => asked.delete(host));
      asked.set(host, p);
    }
    return p;
  };
}
