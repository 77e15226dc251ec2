// A fake of the four Cloud Storage JSON API calls GcsStore makes, recorded from the API's
// documented request/response shapes: object metadata GET, media GET, multipart upload POST
// (an object exists only once its whole upload arrived), DELETE. In memory, on 127.0.0.1.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGcs {
  endpoint: string;
  objects: Map<string, { data: Buffer; metadata: Record<string, string> }>;
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('aborted', () => resolve(undefined));
    req.on('error', () => resolve(undefined));
  });
}

export async function startFakeGcs(): Promise<FakeGcs> {
  const objects = new Map<string, { data: Buffer; metadata: Record<string, string> }>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const meta = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (meta && req.method === 'GET') {
      const key = `${decodeURIComponent(meta[1]!)}/${decodeURIComponent(meta[2]!)}`;
      const o = objects.get(key);
      if (!o) return void res.writeHead(404).end('{"error":{"code":404}}');
      if (url.searchParams.get('alt') === 'media') return void res.writeHead(200, { 'content-length': o.data.length }).end(o.data);
      // md5Hash: the MD5 GCS computes itself, base64 (absent for composite objects).
      const md5Hash = createHash('md5').update(o.data).digest('base64');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: meta[2], size: String(o.data.length), md5Hash, metadata: o.metadata }));
    }
    if (meta && req.method === 'DELETE') {
      const key = `${decodeURIComponent(meta[1]!)}/${decodeURIComponent(meta[2]!)}`;
      return void res.writeHead(objects.delete(key) ? 204 : 404).end();
    }
    if (upload && req.method === 'POST' && url.searchParams.get('uploadType') === 'multipart') {
      const b = await body(req);
      const declared = Number(req.headers['content-length']);
      if (!b || b.length !== declared) return void res.destroy(); // incomplete upload: no object
      const boundary = /boundary=([^;]+)/.exec(req.headers['content-type'] ?? '')?.[1];
      const text = b.toString('latin1');
      const parts = text.split(`--${boundary}`).slice(1, -1);
      const [metaPart, dataPart] = parts.map((p) => p.slice(p.indexOf('\r\n\r\n') + 4, -2));
      const m = JSON.parse(metaPart ?? '{}') as { name: string; metadata?: Record<string, string> };
      if (url.searchParams.get('ifGenerationMatch') === '0' && objects.has(`${decodeURIComponent(upload[1]!)}/${m.name}`)) {
        return void res.writeHead(412, { 'content-type': 'application/json' }).end('{"error":{"code":412,"message":"conditionNotMet"}}');
      }
      objects.set(`${decodeURIComponent(upload[1]!)}/${m.name}`, { data: Buffer.from(dataPart ?? '', 'latin1'), metadata: m.metadata ?? {} });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: m.name }));
    }
    res.writeHead(400).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
