// gs:// stores through the Cloud Storage JSON API on fetch (no client library: four calls are
// all we need). Uploads are single multipart requests carrying our sha256 as custom metadata;
// GCS makes an object visible only when its upload completes, and the body is a verifying stream
// that aborts the request on a mismatch, so no partial or unverified object appears.
// The sha256 metadata is only a claim (anyone writing the object can set it); GCS's own md5Hash
// is the fingerprint the observer checks against the ledger before trusting it (see s3.ts).
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DEFAULT_TIMEOUTS, fetchWithTimeouts, type Timeouts } from '../../oci/http.js';
import { TransientError, isTransientStatus, retryAfterMs } from '../../net/retry.js';
import type { FileState } from '../observed.js';
import { assertBase, assertName } from './confine.js';
import type { FileStore } from './store.js';

export interface GcsOptions {
  /** API root, e.g. https://storage.googleapis.com (or an emulator). */
  endpoint: string;
  /** An OAuth access token (e.g. from `gcloud auth print-access-token` or workload identity). */
  token?: () => Promise<string | undefined>;
  fetch?: typeof fetch;
  timeouts?: Timeouts;
}

export class GcsStore implements FileStore {
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly fetch: typeof fetch;

  constructor(
    readonly base: string,
    private readonly opts: GcsOptions,
  ) {
    const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(base);
    if (!m) throw new Error(`not a gs:// URL: ${base}`);
    assertBase(base);
    this.bucket = m[1] as string;
    const p = m[2] ?? '';
    this.prefix = p === '' || p.endsWith('/') ? p : `${p}/`;
    this.fetch = opts.fetch ?? fetch;
  }

  private object(name: string): string {
    assertName(this.base, name);
    return `${this.opts.endpoint}/storage/v1/b/${encodeURIComponent(this.bucket)}/o/${encodeURIComponent(this.prefix + name)}`;
  }

  private async call(url: string, init: RequestInit & { ok: number[] }): Promise<Response> {
    const token = await this.opts.token?.();
    const headers = { ...(init.headers as Record<string, string>), ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetchWithTimeouts(this.fetch, url, { ...init, headers }, this.opts.timeouts ?? DEFAULT_TIMEOUTS, `${init.method ?? 'GET'} ${url}`);
    if (isTransientStatus(res.status)) {
      await res.body?.cancel();
      throw new TransientError(`${init.method ?? 'GET'} ${url}: HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after')));
    }
    if (!init.ok.includes(res.status)) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res;
  }

  async stat(name: string): Promise<FileState | undefined> {
    const res = await this.call(this.object(name), { method: 'GET', ok: [200, 404] });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const o = (await res.json()) as { size?: string; md5Hash?: string; metadata?: Record<string, string> };
    const size = Number(o.size ?? 0);
    const claimed = o.metadata?.sha256;
    // Composite objects have no md5Hash: no fingerprint, so they are hashed.
    return { size, ...(claimed ? { claimedSha256: claimed } : {}), ...(o.md5Hash ? { fingerprint: `gcs-md5:${o.md5Hash}:${size}` } : {}) };
  }

  async read(name: string): Promise<Readable> {
    const res = await this.call(`${this.object(name)}?alt=media`, { method: 'GET', ok: [200] });
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  async write(name: string, body: Readable | Buffer, size: number, sha256: string): Promise<FileState> {
    await this.upload(name, Buffer.isBuffer(body) ? Readable.from([body]) : body, size, sha256, '');
    const written = await this.stat(name);
    if (!written || written.size !== size || (sha256 && written.claimedSha256 !== sha256)) {
      throw new Error(`${this.base}${name}: after upload the object has size ${written?.size ?? 'none'}; expected ${size}`);
    }
    return written;
  }

  async createExclusive(name: string, text: string): Promise<boolean> {
    const bytes = Buffer.from(text);
    // ifGenerationMatch=0: only if no live object has that name (HTTP 412 otherwise).
    return this.upload(name, Readable.from([bytes]), bytes.length, '', '&ifGenerationMatch=0');
  }

  /** One multipart upload; false if a precondition in `query` failed. */
  private async upload(name: string, body: Readable, size: number, sha256: string, query: string): Promise<boolean> {
    assertName(this.base, name);
    const boundary = `artifact-serving-${randomBytes(8).toString('hex')}`;
    const meta = JSON.stringify({ name: this.prefix + name, ...(sha256 ? { metadata: { sha256 } } : {}) });
    const head = Buffer.from(`--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${meta}\r\n--${boundary}\r\ncontent-type: application/octet-stream\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const abort = new AbortController();
    let bodyError: unknown;
    body.once('error', (e) => {
      bodyError = e;
      abort.abort(e);
    });
    const multipart = Readable.from(
      (async function* () {
        yield head;
        for await (const chunk of body) yield chunk as Buffer;
        yield tail;
      })(),
    );
    const url = `${this.opts.endpoint}/upload/storage/v1/b/${encodeURIComponent(this.bucket)}/o?uploadType=multipart${query}`;
    try {
      const res = await this.call(url, {
        method: 'POST',
        headers: { 'content-type': `multipart/related; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) },
        body: multipart as unknown as BodyInit,
        duplex: 'half',
        signal: abort.signal,
        ok: query ? [200, 412] : [200],
      } as RequestInit & { ok: number[] });
      await res.body?.cancel();
      if (bodyError) throw bodyError;
      return res.status === 200;
    } catch (e) {
      throw bodyError ?? e;
    }
  }

  async delete(name: string): Promise<void> {
    const res = await this.call(this.object(name), { method: 'DELETE', ok: [200, 204, 404] });
    await res.body?.cancel();
  }

  async readText(name: string): Promise<string | undefined> {
    if (!(await this.stat(name))) return undefined;
    const res = await this.call(`${this.object(name)}?alt=media`, { method: 'GET', ok: [200] });
    return res.text();
  }

  async writeText(name: string, text: string): Promise<void> {
    const bytes = Buffer.from(text);
    await this.write(name, Readable.from([bytes]), bytes.length, '');
  }
}
