// The audit's requests to registry mirrors that want credentials (a private mirror, a
// docker-registry with htpasswd): a fetch that answers a 401 the way the promoter's client does
// (src/oci/client.ts: Basic, or a Bearer token from the realm, with the same credential lookup
// and the same rules on where credentials may go), then repeats the request once with it. The
// header is kept per registry and repository, so later requests send it at once; a 401 on a kept
// one (an expired token) authenticates again. Credentials are never logged: a failure says only
// what the registry answered.
import type { CredentialLookup } from '../oci/auth.js';
import { RegistryClient } from '../oci/client.js';
import { errorMessage } from '../util/error-message.js';

/** `/v2/<repo>/manifests|blobs|referrers|tags/...`: the repository a request is about. */
const REPO_PATH = /^\/v2\/(.+?)\/(?:manifests|blobs|referrers|tags)\//;

export class AuditAuthError extends Error {
  override name = 'AuditAuthError';
}

export function authorizingFetch(credentials: CredentialLookup, fetchFn: typeof fetch = fetch): typeof fetch {
  const clients = new Map<string, RegistryClient>();
  const kept = new Map<string, string>();
  const clientFor = (url: URL): RegistryClient => {
    let client = clients.get(url.origin);
    if (!client) {
      // Errors name the setting the operator fills in, not the promoter's docker config.
      client = new RegistryClient(url.host, { credentials, credentialsSource: 'trust.credentials', fetch: fetchFn, insecure: () => url.protocol === 'http:' });
      clients.set(url.origin, client);
    }
    return client;
  };
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const repo = REPO_PATH.exec(url.pathname)?.[1];
    if (!repo) return fetchFn(input, init);
    const slot = `${url.origin} ${repo}`;
    const send = (authorization: string | undefined) => {
      const headers = new Headers(init.headers);
      if (authorization) headers.set('authorization', authorization);
      return fetchFn(url, { ...init, headers });
    };
    const first = await send(kept.get(slot));
    if (first.status !== 401) return first;
    await first.body?.cancel();
    let authorization: string | undefined;
    try {
      authorization = await clientFor(url).pullAuthorization(decodeURIComponent(repo), first.headers.get('www-authenticate'));
    } catch (error) {
      throw new AuditAuthError(`unauthorized (HTTP 401): ${errorMessage(error)}`);
    }
    if (authorization) kept.set(slot, authorization);
    return send(authorization);
  }) as typeof fetch;
}
