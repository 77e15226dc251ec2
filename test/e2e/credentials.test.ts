// Credentials stay with their registry: two fake servers on 127.0.0.1 and localhost (two hosts).
// Basic credentials never go to a token realm over plain HTTP on another host; neither the token
// nor Basic credentials go to an upload Location or redirect on another host.
import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient, sha256Digest } from '../../src/oci/client.js';

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  bytes: number;
}

async function fake(hostname: '127.0.0.1' | 'localhost', handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s: Seen = { method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, bytes: 0 };
    seen.push(s);
    req.on('data', (c: Buffer) => (s.bytes += c.length));
    req.on('end', () => handler(req, res, s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `${hostname}:${port}`,
    url: `http://${hostname}:${port}`,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const CREDS = { username: 'bot', password: 'secret' };
const BASIC = `Basic ${Buffer.from('bot:secret').toString('base64')}`;

test('Basic credentials are not sent to a plain-HTTP token realm on another host', async (t) => {
  const auth = await fake('localhost', (_req, res) => res.end(JSON.stringify({ token: 'ANON' })));
  t.teardown(auth.stop);
  const reg = await fake('127.0.0.1', (req, res) => {
    if (req.headers.authorization !== 'Bearer ANON') res.writeHead(401, { 'www-authenticate': `Bearer realm="${auth.url}/token",service="x"` }).end();
    else res.end(JSON.stringify({ tags: ['v1'] }));
  });
  t.teardown(reg.stop);
  const client = new RegistryClient(reg.host, { credentials: (h) => (h === reg.host ? CREDS : undefined) });
  t.deepEqual(await client.listTags('p/app'), ['v1']);
  t.is(auth.seen.length, 1);
  t.is(auth.seen[0]?.authorization, undefined, 'the token was requested anonymously');
});

test('a refused anonymous token request says why the credentials were withheld', async (t) => {
  const auth = await fake('localhost', (_req, res) => res.writeHead(401).end());
  t.teardown(auth.stop);
  const reg = await fake('127.0.0.1', (_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="${auth.url}/token"` }).end());
  t.teardown(reg.stop);
  const client = new RegistryClient(reg.host, { credentials: () => CREDS });
  await t.throwsAsync(client.listTags('p/app'), { message: /token request to .* failed: HTTP 401 \(credentials for 127\.0\.0\.1:\d+ were not sent: the realm is plain HTTP on another host\)/ });
  t.false(auth.seen.some((s) => s.authorization !== undefined));
});

test('the realm on the registry’s own origin gets the credentials', async (t) => {
  const reg = await fake('127.0.0.1', (req, res) => {
    if (req.url?.startsWith('/token')) res.end(JSON.stringify({ token: 'T' }));
    else if (req.headers.authorization !== 'Bearer T') res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token"` }).end();
    else res.end(JSON.stringify({ tags: [] }));
  });
  t.teardown(reg.stop);
  const client = new RegistryClient(reg.host, { credentials: () => CREDS });
  t.deepEqual(await client.listTags('p/app'), []);
  t.is(reg.seen.find((s) => s.path.startsWith('/token'))?.authorization, BASIC);
});

for (const scheme of ['bearer', 'basic'] as const) {
  test(`${scheme}: an upload Location and a blob redirect on another host get no Authorization`, async (t) => {
    const storage = await fake('localhost', (req, res) => {
      if (req.method === 'PUT') res.writeHead(201).end();
      else res.end('blob bytes');
    });
    t.teardown(storage.stop);
    const reg = await fake('127.0.0.1', (req, res) => {
      const ok = scheme === 'bearer' ? req.headers.authorization === 'Bearer T' : req.headers.authorization === BASIC;
      if (req.url?.startsWith('/token')) return void res.end(JSON.stringify({ token: 'T' }));
      if (!ok) return void res.writeHead(401, { 'www-authenticate': scheme === 'bearer' ? `Bearer realm="http://${req.headers.host}/token"` : 'Basic realm="r"' }).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: `${storage.url}/upload/session-1?sig=abc` }).end();
      if (req.method === 'GET') return void res.writeHead(307, { location: `${storage.url}/blob-data` }).end();
      res.writeHead(404).end();
    });
    t.teardown(reg.stop);
    const client = new RegistryClient(reg.host, { credentials: () => CREDS });
    const blob = Buffer.from('some layer bytes');
    await client.uploadBlob('p/app', sha256Digest(blob), blob, blob.length);
    const { body } = await client.getBlob('p/app', sha256Digest('blob bytes'));
    t.is(await new Response(body).text(), 'blob bytes');
    t.deepEqual(
      storage.seen.map((s) => [s.method, s.authorization]),
      [
        ['PUT', undefined],
        ['GET', undefined],
      ],
    );
    t.is(storage.seen[0]?.bytes, blob.length);
    t.true(
      reg.seen.some((s) => s.authorization !== undefined),
      'the registry itself did get credentials',
    );
  });
}

test('an HTTPS registry is never sent to plain HTTP on another host', async (t) => {
  const calls: string[] = [];
  const fakeFetch = (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    calls.push(url);
    return new Response(null, { status: 202, headers: { location: 'http://storage.example/upload/1' } });
  }) as typeof fetch;
  const client = new RegistryClient('registry.example', { fetch: fakeFetch });
  const blob = Buffer.from('x');
  await t.throwsAsync(client.uploadBlob('p/app', sha256Digest(blob), blob, 1), { message: /refusing PUT http:\/\/storage\.example: the registry is HTTPS/ });
  t.deepEqual(calls, ['https://registry.example/v2/p/app/blobs/uploads/']);
});
