// An s3rver on 127.0.0.1 with the buckets a test needs, and a client configured for it.
import { S3Client } from '@aws-sdk/client-s3';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tempDir } from '../helpers/temp-dir.js';

// s3rver ships no types; this is the little of its API used here.
interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  /** Koa's middleware list: composed by run(), so a function put first sees every request. */
  middleware: ((ctx: { method: string; path: string; status: number; get(header: string): string }, next: () => Promise<void>) => Promise<void>)[];
}

/** One request s3rver answered, for tests that count what a client fetched (its access log). */
export interface S3Request {
  method: string;
  /** Path as requested, e.g. /bucket/key (still percent-encoded). */
  path: string;
  status: number;
  range: string;
}
type S3rverCtor = new (opts: { address: string; port: number; directory: string; silent: boolean; configureBuckets: { name: string }[] }) => S3rverServer;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

export interface S3Peer {
  endpoint: string;
  client: S3Client;
  stop(): Promise<void>;
}

export function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function startS3(buckets: string[], opts: { onRequest?: (request: S3Request) => void } = {}): Promise<S3Peer> {
  const dir = tempDir('s3rver-');
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  const { onRequest } = opts;
  if (onRequest) {
    server.middleware.unshift(async (ctx, next) => {
      try {
        await next();
      } finally {
        onRequest({ method: ctx.method, path: ctx.path, status: ctx.status, range: ctx.get('range') });
      }
    });
  }
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3Client(endpoint);
  return {
    endpoint,
    client,
    stop: async () => {
      client.destroy();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver 3.7 neither verifies nor returns `x-amz-checksum-sha256` (it accepts a wrong one and
 * answers HEAD without it). This proxy in front of it does what S3 does with SHA-256 checksums:
 * a PUT carrying one is refused (400 BadDigest) unless the body matches, and the checksum is kept
 * and returned by HEAD/GET with `x-amz-checksum-mode: ENABLED`; a PUT without one drops it.
 */
export async function startS3ChecksumProxy(target: string): Promise<{ endpoint: string; client: S3Client; stop(): Promise<void> }> {
  const { createServer, request } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const upstream = new URL(target);
  const checksums = new Map<string, string>();
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
    const forward = (body: Buffer | undefined, onStatus?: (status: number) => void) => {
      const headers = { ...req.headers, host: upstream.host };
      if (body) headers['content-length'] = String(body.length);
      const out = request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        const h = { ...up.headers };
        const sum = checksums.get(path);
        if (sum && String(req.headers['x-amz-checksum-mode']).toUpperCase() === 'ENABLED') {
          h['x-amz-checksum-sha256'] = sum;
          h['x-amz-checksum-type'] = 'FULL_OBJECT';
        }
        onStatus?.(up.statusCode ?? 0);
        res.writeHead(up.statusCode ?? 502, h);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      if (body) out.end(body);
      else req.pipe(out);
    };
    // Multipart parts and copies are passed through as they are (not used with checksums here).
    if (req.method !== 'PUT' || /[?&](uploadId|partNumber)=/.test(req.url ?? '') || req.headers['x-amz-copy-source']) return forward(undefined);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const claimed = req.headers['x-amz-checksum-sha256'];
      if (typeof claimed !== 'string') {
        checksums.delete(path);
        return forward(body);
      }
      if (createHash('sha256').update(body).digest('base64') !== claimed) {
        res.writeHead(400, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match the calculated checksum.</Message></Error>');
        return;
      }
      forward(body, (status) => {
        if (status === 200) checksums.set(path, claimed);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  const client = s3Client(endpoint);
  return {
    endpoint,
    client,
    stop: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
