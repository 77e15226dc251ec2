// Registry credentials and the two challenge schemes of the distribution spec: Basic, and Bearer
// tokens from the realm named in WWW-Authenticate (docker's token protocol). Credentials come
// from docker's config.json (`auths.<host>.auth`, base64 "user:password"); credential helpers
// are not run (document: use a config with inline auths for the promoter's service account).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

export type CredentialLookup = (host: string) => Credentials | undefined;

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
}

/** Read docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json); empty if absent. */
export async function dockerCredentials(env: { DOCKER_CONFIG?: string | undefined } = process.env): Promise<CredentialLookup> {
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as DockerConfig;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return credentialsFromConfig(config);
}

export function credentialsFromConfig(config: DockerConfig): CredentialLookup {
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
  return (host) => byHost.get(host);
}
