// A small client for the OCI distribution API on Node's fetch: what the promoter needs to copy
// images between any registries. Manifests (HEAD/GET/PUT/DELETE), blobs (HEAD/GET, monolithic
// or chunked upload, cross-repository mount), tags/list with Link pagination, and the referrers
// API. Auth: anonymous, Basic, or Bearer tokens from the registry's realm, cached per scope.
// 429 and 5xx become TransientError so callers' retry loops back off.
// Credentials stay with their registry: Basic credentials go to a token realm only on the
// registry's own origin, or over HTTPS on the same host or parent domain (auth.docker.io for
// registry-1.docker.io); never over plain HTTP to another host. Authorization (Basic or a
// token) is sent only to the registry's own origin: an upload Location or redirect on another
// host gets the request without it, as the distribution spec allows, and never a downgrade
// from HTTPS to plain HTTP.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DEFAULT_RETRY, TransientError, isTransientStatus, retryAfterMs, withRetry, type RetryOptions } from '../net/retry.js';
import { basicHeader, parseChallenge, type CredentialLookup } from './auth.js';
import { DEFAULT_TIMEOUTS, fetchWithTimeouts, type Timeouts } from './http.js';
import { MANIFEST_MEDIA_TYPES } from './reference.js';
import type { Registry, TagsList } from './registry.js';
import { errorCode, manifestSchema, parseRegistryJson, referrersSchema, tagsListSchema, tokenResponseSchema } from './registry-json.js';

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Manifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ClientOptions {
  credentials?: CredentialLookup;
  /**
   * The setting `credentials` come from, named when a registry wants credentials it has none for
   * (default "docker config"). A caller that names its own (the audit: trust.credentials) also
   * gets it named when a token realm refuses an anonymous request, so the operator knows what to set.
   */
  credentialsSource?: string;
  /** Hosts spoken to over plain HTTP (default: loopback addresses). */
  insecure?: (host: string) => boolean;
  fetch?: typeof fetch;
  /** Blobs larger than this are uploaded in chunks of this size (PATCH); smaller ones in one PUT. */
  chunkSize?: number;
  /** Response and body-idle timeouts for every request (default 60 s each). */
  timeouts?: Timeouts;
  /**
   * Retries of each request on 429, 5xx and dropped connections (default DEFAULT_RETRY). A
   * request whose body is a stream cannot be replayed: its caller retries (copy-image does, per blob).
   */
  retry?: RetryOptions;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::\d+)?$/;

export class RegistryClient implements Registry {
  readonly base: string;
  private readonly origin: URL;
  private readonly tokens = new Map<string, string>();
  private basic: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly chunkSize: number;
  private readonly timeouts: Timeouts;
  private readonly retry: RetryOptions;

  constructor(
    readonly host: string,
    private readonly opts: ClientOptions = {},
  ) {
    const insecure = opts.insecure ?? ((h: string) => LOOPBACK.test(h));
    this.base = `${insecure(host) ? 'http' : 'https'}://${host}`;
    this.origin = new URL(this.base);
    this.fetch = opts.fetch ?? fetch;
    this.chunkSize = opts.chunkSize ?? 64 * 1024 * 1024;
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS;
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  // ---- manifests

  async headManifest(repo: string, ref: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const res = await this.request('HEAD', repo, `manifests/${ref}`, { headers: { accept: ACCEPT }, ok: [200, 404] });
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest');
    if (!digest) {
      // Some registries omit the header on HEAD: fall back to GET and hash.
      return this.getManifest(repo, ref).then((m) => m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length });
    }
    return { digest, mediaType: res.headers.get('content-type') ?? '', size: Number(res.headers.get('content-length') ?? 0) };
  }

  /** The manifest bytes, verified against `ref` when it is a digest. */
  async getManifest(repo: string, ref: string): Promise<Manifest | undefined> {
    const res = await this.request('GET', repo, `manifests/${ref}`, { headers: { accept: ACCEPT }, ok: [200, 404] });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (ref.startsWith('sha256:') && digest !== ref) throw new RegistryError(`${this.host}/${repo}@${ref}: manifest bytes hash to ${digest}`, 200);
    const json = parseRegistryJson(manifestSchema, bytes, `GET ${this.base}/v2/${repo}/manifests/${ref}`, 'the manifest', res.status);
    const mediaType = res.headers.get('content-type')?.split(';')[0] ?? json.mediaType ?? '';
    return { bytes, mediaType, digest };
  }

  /** PUT a manifest by tag or digest; returns the digest, checked against what the registry reports. */
  async putManifest(repo: string, ref: string, m: { bytes: Buffer; mediaType: string }): Promise<string> {
    const res = await this.request('PUT', repo, `manifests/${ref}`, { headers: { 'content-type': m.mediaType }, body: m.bytes, ok: [200, 201], push: true });
    await res.body?.cancel();
    const digest = sha256Digest(m.bytes);
    const reported = res.headers.get('docker-content-digest');
    if (reported && reported !== digest) throw new RegistryError(`${this.host}/${repo}:${ref}: registry stored ${reported}, expected ${digest}`, res.status);
    return digest;
  }

  /** DELETE by digest (or by tag where the registry supports it); false if it was not there. */
  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    const res = await this.request('DELETE', repo, `manifests/${ref}`, { ok: [200, 202, 404], push: true, deleteScope: true });
    await res.body?.cancel();
    return res.status !== 404;
  }

  // ---- blobs

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request('HEAD', repo, `blobs/${digest}`, { ok: [200, 404] });
    return res.status === 200;
  }

  async getBlob(repo: string, digest: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
    const res = await this.request('GET', repo, `blobs/${digest}`, { ok: [200] });
    if (!res.body) throw new RegistryError(`${this.host}/${repo}@${digest}: empty body`, res.status);
    return { body: res.body, size: Number(res.headers.get('content-length') ?? -1) };
  }

  /** Ask the registry to link a blob from another repository on the same host; true if it did. */
  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.request('POST', repo, `blobs/uploads/?${q}`, { ok: [201, 202], push: true, fromRepo: from });
    await res.body?.cancel();
    if (res.status === 201) return true;
    // 202: the registry opened an upload session instead; abandon it (it expires).
    const location = res.headers.get('location');
    if (location)
      await this.fetchUrl('DELETE', this.resolve(location), repo, { ok: [200, 204, 404, 405, 400], push: true })
        .then((r) => r.body?.cancel())
        .catch(() => undefined);
    return false;
  }

  /** Upload a blob whose digest is known; the registry verifies it on the final PUT. */
  async uploadBlob(repo: string, digest: string, body: ReadableStream<Uint8Array> | Readable | Buffer, size: number): Promise<void> {
    const start = await this.request('POST', repo, 'blobs/uploads/', { ok: [202], push: true });
    await start.body?.cancel();
    let location = this.requireLocation(start);
    if (size <= this.chunkSize) {
      const res = await this.fetchUrl('PUT', withDigest(location, digest), repo, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: toBody(body),
        ok: [201],
        push: true,
      });
      await res.body?.cancel();
      return;
    }
    // Chunked: PATCH each chunk with its Content-Range, then PUT with the digest and no body.
    let offset = 0;
    for await (const chunk of chunks(body, this.chunkSize)) {
      const res = await this.fetchUrl('PATCH', location, repo, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
        ok: [202],
        push: true,
      });
      await res.body?.cancel();
      offset += chunk.length;
      location = this.requireLocation(res);
    }
    const done = await this.fetchUrl('PUT', withDigest(location, digest), repo, { headers: { 'content-length': '0' }, ok: [201], push: true });
    await done.body?.cancel();
  }

  // ---- listing

  async listTags(repo: string): Promise<string[]> {
    return (await this.tagsList(repo)).tags;
  }

  /** Every page of the tags list (Link pagination), with Google's digest map when sent. */
  async tagsList(repo: string): Promise<TagsList> {
    const tags: string[] = [];
    let digests: Map<string, string[]> | undefined;
    let url: string | undefined = `${this.base}/v2/${repo}/tags/list?n=1000`;
    while (url) {
      const res: Response = await this.fetchUrl('GET', url, repo, { ok: [200, 404] });
      if (res.status === 404) {
        await res.body?.cancel();
        return { tags: [] };
      }
      const page = parseRegistryJson(tagsListSchema, await res.text(), `GET ${url}`, 'the tags list', res.status);
      tags.push(...(page.tags ?? []));
      if (page.manifest) {
        digests ??= new Map();
        for (const [digest, info] of Object.entries(page.manifest)) digests.set(digest, info.tag ?? []);
      }
      url = nextLink(res.headers.get('link'), this.base);
    }
    return digests ? { tags, digests } : { tags };
  }

  /** Referrers of a manifest, or undefined when the registry has no referrers API. */
  async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    const res = await this.request('GET', repo, `referrers/${digest}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' }, ok: [200, 404, 400, 405] });
    const type = res.headers.get('content-type') ?? '';
    if (res.status !== 200 || !type.includes('application/vnd.oci.image.index.v1+json')) {
      await res.body?.cancel();
      return undefined;
    }
    const index = parseRegistryJson(referrersSchema, await res.text(), `GET ${this.base}/v2/${repo}/referrers/${digest}`, 'the referrers index', res.status);
    return (index.manifests ?? []) as Descriptor[];
  }

  // ---- plumbing

  private request(method: string, repo: string, path: string, init: RequestInit2): Promise<Response> {
    return this.fetchUrl(method, `${this.base}/v2/${repo}/${path}`, repo, init);
  }

  private resolve(location: string): string {
    return new URL(location, this.base).href;
  }

  private requireLocation(res: Response): string {
    const location = res.headers.get('location');
    if (!location) throw new RegistryError(`${this.host}: upload response without Location`, res.status);
    return this.resolve(location);
  }

  private scopes(repo: string, init: RequestInit2): string[] {
    const actions = init.deleteScope ? 'pull,push,delete' : init.push ? 'pull,push' : 'pull';
    const scopes = [`repository:${repo}:${actions}`];
    if (init.fromRepo) scopes.push(`repository:${init.fromRepo}:pull`);
    return scopes;
  }

  /** One request, retried on its own when transient (unless its body is a stream). */
  private fetchUrl(method: string, url: string, repo: string, init: RequestInit2): Promise<Response> {
    if (init.body instanceof ReadableStream || init.body instanceof Readable) return this.fetchOnce(method, url, repo, init);
    return withRetry(() => this.fetchOnce(method, url, repo, init), this.retry);
  }

  private async fetchOnce(method: string, url: string, repo: string, init: RequestInit2): Promise<Response> {
    const scopes = this.scopes(repo, init);
    const key = scopes.join(' ');
    const target = new URL(url);
    const own = target.origin === this.origin.origin;
    if (!own && target.protocol === 'http:' && this.origin.protocol === 'https:') {
      throw new RegistryError(`${this.host}: refusing ${method} ${target.origin}: the registry is HTTPS and sends us to plain HTTP on another host`, 0);
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const token = this.tokens.get(key);
      // Another origin (an upload Location on a storage host): no Authorization at all.
      if (own && token) headers.authorization = `Bearer ${token}`;
      else if (own && this.basic) headers.authorization = this.basic;
      const res = await fetchWithTimeouts(
        this.fetch,
        url,
        { method, headers, ...(init.body !== undefined ? { body: init.body as BodyInit, duplex: 'half' } : {}), redirect: 'follow' } as RequestInit,
        this.timeouts,
        `${method} ${url}`,
      );
      // A body that is a stream cannot be sent twice; the POST that opens an upload authenticates first.
      if (res.status === 401 && own && attempt === 0 && !(init.body instanceof ReadableStream || init.body instanceof Readable)) {
        await res.body?.cancel();
        await this.authenticate(res.headers.get('www-authenticate'), scopes, key);
        continue;
      }
      if (isTransientStatus(res.status)) {
        await res.body?.cancel();
        throw new TransientError(`${method} ${url}: HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after')));
      }
      if (!init.ok.includes(res.status)) {
        const text = method === 'HEAD' ? '' : await res.text().catch(() => '');
        const code = errorCode(text);
        throw new RegistryError(`${method} ${url}: HTTP ${res.status}${code ? ` ${code}` : ''}${text ? `: ${text.slice(0, 300)}` : ''}`, res.status, code);
      }
      return res;
    }
  }

  /**
   * The Authorization header to pull from `repo` after the registry answered 401 with
   * `challenge`: its Basic credentials, or a fresh Bearer token from its realm, by the same rules
   * as this client's own requests. For callers that send their own requests (the mirror audit).
   * Throws RegistryError when it cannot authenticate (no credentials, the realm refuses).
   */
  async pullAuthorization(repo: string, challenge: string | null): Promise<string | undefined> {
    const scopes = [`repository:${repo}:pull`];
    const key = scopes.join(' ');
    this.tokens.delete(key);
    await this.authenticate(challenge, scopes, key);
    const token = this.tokens.get(key);
    return token ? `Bearer ${token}` : this.basic;
  }

  /** Whether this registry's Basic credentials may be sent to a token realm at `url`. */
  private credentialsMayGoTo(url: URL): boolean {
    if (url.origin === this.origin.origin) return true;
    if (url.protocol !== 'https:') return false; // plain HTTP: only to the registry's own origin
    return url.hostname === this.origin.hostname || sameParentDomain(url.hostname, this.origin.hostname);
  }

  private async authenticate(header: string | null, scopes: string[], key: string): Promise<void> {
    const challenge = parseChallenge(header);
    const creds = await this.opts.credentials?.(this.host);
    if (challenge?.scheme === 'basic') {
      if (!creds) throw new RegistryError(`${this.host}: needs credentials (basic auth) and ${this.opts.credentialsSource ?? 'docker config'} has none`, 401);
      this.basic = basicHeader(creds);
      return;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) throw new RegistryError(`${this.host}: unauthorised, challenge ${header ?? 'missing'}`, 401);
    let url: URL;
    try {
      url = new URL(challenge.params.realm);
    } catch {
      throw new RegistryError(`${this.host}: token realm "${challenge.params.realm}" is not a URL`, 401);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const send = creds !== undefined && this.credentialsMayGoTo(url);
    const res = await fetchWithTimeouts(this.fetch, url, { headers: send ? { authorization: basicHeader(creds) } : {}, redirect: 'error' }, this.timeouts, `token ${url.origin}`);
    if (isTransientStatus(res.status)) throw new TransientError(`token ${url.origin}: HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after')));
    if (res.status !== 200) {
      await res.body?.cancel();
      const why =
        creds && !send
          ? ` (credentials for ${this.host} were not sent: the realm is ${url.protocol === 'http:' ? 'plain HTTP on another host' : 'on an unrelated host'})`
          : !creds && this.opts.credentialsSource
            ? ` (${this.opts.credentialsSource} has no credentials for ${this.host})`
            : '';
      throw new RegistryError(`${this.host}: token request to ${url.origin} failed: HTTP ${res.status}${why}`, res.status);
    }
    const body = parseRegistryJson(tokenResponseSchema, await res.text(), `${this.host}: token from ${url.origin}${url.pathname}`, 'the token response', res.status);
    this.tokens.set(key, (body.token || body.access_token) as string);
  }
}

/** `a.b.example` and `c.example` share `b.example`/`example`: the last two DNS labels (not for IP addresses). */
function sameParentDomain(a: string, b: string): boolean {
  const ip = /^[\d.]+$|:/;
  if (ip.test(a) || ip.test(b)) return false;
  const parent = (h: string) => h.toLowerCase().split('.').slice(-2).join('.');
  return a.includes('.') && b.includes('.') && parent(a) === parent(b);
}

interface RequestInit2 {
  headers?: Record<string, string>;
  body?: Buffer | ReadableStream<Uint8Array> | Readable | Uint8Array;
  ok: number[];
  push?: boolean;
  deleteScope?: boolean;
  fromRepo?: string;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

function toBody(body: ReadableStream<Uint8Array> | Readable | Buffer): Buffer | ReadableStream<Uint8Array> | Readable {
  return body;
}

/** RFC 5988 `Link: </v2/x/tags/list?last=a&n=1000>; rel="next"`. */
export function nextLink(header: string | null, base: string): string | undefined {
  const m = header && /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  return m ? new URL(m[1] as string, base).href : undefined;
}

async function* chunks(body: ReadableStream<Uint8Array> | Readable | Buffer, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
    return;
  }
  const iterable = body instanceof Readable ? body : Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
  let pending: Buffer[] = [];
  let length = 0;
  for await (const c of iterable) {
    const buf = Buffer.from(c as Uint8Array);
    pending.push(buf);
    length += buf.length;
    while (length >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}
