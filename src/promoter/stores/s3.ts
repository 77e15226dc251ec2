// s3:// stores through @aws-sdk/client-s3. A PutObject becomes visible only when the whole body
// arrived, and the body is a verifying stream that withholds its last chunk on a mismatch, so a
// tampered upload never completes. A write is that one request: its answer (ETag, and the
// checksum where S3 keeps one) is the object's state, with no HEAD after it.
//
// Integrity of what production holds: metadata (`x-amz-meta-sha256`) is only a claim, which anyone
// writing the object can set. The object's sha256 is trusted when S3 computed it: uploads carry
// x-amz-checksum-sha256, which S3 verifies against the body and returns on HEAD (ChecksumMode).
// Servers without checksums give a fingerprint instead (the single-part ETag, an MD5 S3 computes),
// which the observer trusts only when it matches the ledger's record of what we wrote; otherwise
// the object is downloaded and hashed.
import { ChecksumMode, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NotFound, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { FileState } from '../observed.js';
import { assertBase, assertName } from './confine.js';
import type { FileStore } from './store.js';

/** Our own record of an object's content, set on every write; S3 has no sha256 of its own by default. */
const SHA256_METADATA = 'sha256';

function parseS3Url(base: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(base);
  if (!m) throw new Error(`not an s3:// URL: ${base}`);
  const prefix = m[2] ?? '';
  return { bucket: m[1] as string, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

export class S3Store implements FileStore {
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(
    readonly base: string,
    private readonly client: S3Client,
  ) {
    assertBase(base);
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(base));
  }

  private key(name: string): string {
    assertName(this.base, name);
    return `${this.prefix}${name}`;
  }

  async stat(name: string): Promise<FileState | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name), ChecksumMode: ChecksumMode.ENABLED }));
      const size = r.ContentLength ?? 0;
      const claimed = r.Metadata?.[SHA256_METADATA];
      // A full-object checksum S3 computed (composite ones of multipart uploads end in "-N").
      const computed = r.ChecksumSHA256 && !r.ChecksumSHA256.includes('-') && r.ChecksumType !== 'COMPOSITE' ? Buffer.from(r.ChecksumSHA256, 'base64').toString('hex') : undefined;
      const fingerprint = fingerprintOf(r.ETag, size);
      return { size, ...(computed?.length === 64 ? { sha256: computed } : {}), ...(claimed ? { claimedSha256: claimed } : {}), ...(fingerprint ? { fingerprint } : {}) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Every name under the base, if there are at most `max` (a page holds up to 1,000): one LIST
   * request tells a whole fresh destination is empty, where a HEAD per name took thousands.
   */
  async names(max: number): Promise<Set<string> | undefined> {
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of r.Contents ?? []) if (o.Key?.startsWith(this.prefix)) names.add(o.Key.slice(this.prefix.length));
      if (names.size > max) return undefined;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  async read(name: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
    return r.Body as Readable;
  }

  async write(name: string, body: Readable | Buffer, size: number, sha256: string): Promise<FileState> {
    // Bytes in memory go out as they are: the SDK writes them at once, where a stream per object
    // took about a quarter more CPU per PUT (middleware and stream events), and cannot fail.
    if (Buffer.isBuffer(body)) return this.send(body, name, size, sha256);
    // A body that fails (verification, staging read) must abort the request before it completes.
    const abort = new AbortController();
    let bodyError: unknown;
    body.once('error', (e) => {
      bodyError = e;
      abort.abort(e);
    });
    let written: FileState;
    try {
      written = await this.send(body, name, size, sha256, abort.signal);
    } catch (e) {
      throw bodyError ?? e;
    }
    if (bodyError) throw bodyError;
    return written;
  }

  /**
   * One PutObject; the object's state from its answer (no HEAD after it): the body was verified
   * on its way out (the verifying stream withholds its end on a mismatch), its length is fixed
   * by Content-Length, and S3 itself refuses a body that does not match x-amz-checksum-sha256.
   * The answer's ETag is the fingerprint the ledger records.
   */
  private async send(body: Readable | Buffer, name: string, size: number, sha256: string, abortSignal?: AbortSignal): Promise<FileState> {
    const r = await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(name),
        Body: body,
        ContentLength: size,
        // S3 verifies the body against the checksum and keeps it (returned by stat).
        ...(sha256 ? { Metadata: { [SHA256_METADATA]: sha256 }, ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64') } : {}),
      }),
      abortSignal ? { abortSignal } : {},
    );
    const computed = r.ChecksumSHA256 ? Buffer.from(r.ChecksumSHA256, 'base64').toString('hex') : undefined;
    if (sha256 && computed !== undefined && computed !== sha256) throw new Error(`${this.base}${name}: S3 computed sha256 ${computed}; expected ${sha256}`);
    const fingerprint = fingerprintOf(r.ETag, size);
    return { size, ...(sha256 ? { claimedSha256: sha256 } : {}), ...(computed === sha256 && sha256 ? { sha256 } : {}), ...(fingerprint ? { fingerprint } : {}) };
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

  async createExclusive(name: string, text: string): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: text, IfNoneMatch: '*' }));
      return true;
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err?.$metadata?.httpStatusCode === 412 || err?.name === 'PreconditionFailed') return false;
      throw e;
    }
  }

  async writeText(name: string, text: string): Promise<void> {
    const bytes = Buffer.from(text);
    await this.write(name, bytes, bytes.length, '');
  }
}

/** The single-part ETag (an MD5 S3 computes) with the size; multipart ETags (with "-") hash no content. */
function fingerprintOf(etag: string | undefined, size: number): string | undefined {
  const e = etag?.replace(/"/g, '');
  return e && /^[a-f0-9]{32}$/.test(e) ? `s3-etag:${e}:${size}` : undefined;
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e instanceof NotFound || e instanceof NoSuchKey || err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}
