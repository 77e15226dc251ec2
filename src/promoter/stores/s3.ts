// s3:// stores through @aws-sdk/client-s3. A PutObject becomes visible only when the whole body
// arrived, and the body is a verifying stream that withholds its last chunk on a mismatch, so a
// tampered upload never completes. After the upload the object is checked (size and recorded
// sha256) before the write counts as done.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NotFound, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { FileState } from '../observed.js';
import { assertBase, assertName } from './confine.js';
import type { FileStore } from './store.js';

/** Our own record of an object's content, set on every write; S3 has no sha256 of its own by default. */
export const SHA256_METADATA = 'sha256';

export function parseS3Url(base: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(base);
  if (!m) throw new Error(`not an s3:// URL: ${base}`);
  const prefix = m[2] ?? '';
  return { bucket: m[1] as string, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

export class S3Store implements FileStore {
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(readonly base: string, private readonly client: S3Client) {
    assertBase(base);
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(base));
  }

  private key(name: string): string {
    assertName(this.base, name);
    return `${this.prefix}${name}`;
  }

  async stat(name: string): Promise<FileState | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      const sha256 = r.Metadata?.[SHA256_METADATA];
      return { size: r.ContentLength ?? 0, ...(sha256 ? { sha256 } : {}) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async read(name: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
    return r.Body as Readable;
  }

  async write(name: string, body: Readable, size: number, sha256: string): Promise<void> {
    // A body that fails (verification, staging read) must abort the request before it completes.
    const abort = new AbortController();
    let bodyError: unknown;
    body.once('error', (e) => {
      bodyError = e;
      abort.abort(e);
    });
    try {
      await this.send(body, name, size, sha256, abort.signal);
    } catch (e) {
      throw bodyError ?? e;
    }
    if (bodyError) throw bodyError;
    const written = await this.stat(name);
    if (!written || written.size !== size || (sha256 && written.sha256 !== sha256)) {
      throw new Error(`${this.base}${name}: after upload the object has size ${written?.size ?? 'none'}, sha256 ${written?.sha256 ?? 'none'}; expected ${size}, ${sha256}`);
    }
  }

  private async send(body: Readable, name: string, size: number, sha256: string, abortSignal: AbortSignal): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(name),
        Body: body,
        ContentLength: size,
        ...(sha256 ? { Metadata: { [SHA256_METADATA]: sha256 } } : {}),
      }),
      { abortSignal },
    );
  }

  async delete(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
  }

  async readText(name: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      return await (r.Body as { transformToString(): Promise<string> }).transformToString();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async writeText(name: string, text: string): Promise<void> {
    const bytes = Buffer.from(text);
    await this.write(name, Readable.from([bytes]), bytes.length, '');
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e instanceof NotFound || e instanceof NoSuchKey || err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}
