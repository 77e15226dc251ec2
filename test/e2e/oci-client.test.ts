// The distribution client against a scripted registry (auth flows, pagination, 429) and against
// a real docker-registry (chunked upload, mount, manifests round trip).
import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentialsFromConfig, parseChallenge } from '../../src/oci/auth.js';
import { RegistryClient, nextLink, sha256Digest } from '../../src/oci/client.js';
import { TransientError } from '../../src/net/retry.js';
import { startRegistry } from '../helpers/peers.js';

async function fake(handler: (req: IncomingMessage, res: ServerResponse, base: string) => void) {
  const server = createServer((req, res) => handler(req, res, `http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { host: `127.0.0.1:${port}`, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

test('parses challenges and docker config credentials', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  const lookup = credentialsFromConfig({ auths: { 'https://reg.example/v1/': { auth: Buffer.from('u:p:w').toString('base64') }, 'other.example': { username: 'a', password: 'b' } } });
  t.deepEqual(lookup('reg.example'), { username: 'u', password: 'p:w' });
  t.deepEqual(lookup('other.example'), { username: 'a', password: 'b' });
  t.is(lookup('none.example'), undefined);
  t.is(nextLink('</v2/x/tags/list?last=b&n=2>; rel="next"', 'http://h'), 'http://h/v2/x/tags/list?last=b&n=2');
});

test('bearer token auth with scopes from the challenge, and tag pagination via Link', async (t) => {
  const seen: string[] = [];
  const server = await fake((req, res, base) => {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname === '/token') {
      seen.push(`token ${url.searchParams.getAll('scope').join(' ')} ${req.headers.authorization ?? ''}`);
      res.end(JSON.stringify({ token: 'T1' }));
      return;
    }
    if (req.headers.authorization !== 'Bearer T1') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="fake"` }).end();
      return;
    }
    const last = url.searchParams.get('last');
    if (!last) res.writeHead(200, { link: '</v2/p/app/tags/list?last=b&n=2>; rel="next"' }).end(JSON.stringify({ tags: ['a', 'b'] }));
    else res.end(JSON.stringify({ tags: ['c'] }));
  });
  t.teardown(server.stop);
  const client = new RegistryClient(server.host, { credentials: () => ({ username: 'bot', password: 'pw' }) });
  t.deepEqual(await client.listTags('p/app'), ['a', 'b', 'c']);
  t.deepEqual(seen, [`token repository:p/app:pull Basic ${Buffer.from('bot:pw').toString('base64')}`], 'one token, reused across pages');
});

test('basic auth challenge, and 429 becomes a transient error with Retry-After', async (t) => {
  let calls = 0;
  const server = await fake((req, res) => {
    calls++;
    if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end();
      return;
    }
    res.writeHead(429, { 'retry-after': '2' }).end();
  });
  t.teardown(server.stop);
  // One attempt: the client's own per-request retries would otherwise wait and ask again.
  const client = new RegistryClient(server.host, { credentials: () => ({ username: 'u', password: 'p' }), retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
  const e = await t.throwsAsync(client.hasBlob('x', `sha256:${'0'.repeat(64)}`));
  t.true(e instanceof TransientError);
  t.is((e as TransientError).retryAfterMs, 2000);
  t.is(calls, 2);
});

test('against docker-registry: chunked upload, mount, manifest round trip, delete, no referrers API', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const client = new RegistryClient(reg.host, { chunkSize: 1000 });
  const blob = Buffer.alloc(3500, 1);
  const digest = sha256Digest(blob);
  t.false(await client.hasBlob('a/app', digest));
  await client.uploadBlob('a/app', digest, blob, blob.length); // 4 chunks
  t.true(await client.hasBlob('a/app', digest));
  t.true(await client.mountBlob('b/app', digest, 'a/app'));
  t.true(await client.hasBlob('b/app', digest));
  const config = Buffer.from('{}');
  await client.uploadBlob('b/app', sha256Digest(config), config, config.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }],
    }),
  );
  const md = await client.putManifest('b/app', 'v1', { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  t.is(md, sha256Digest(manifest));
  t.is((await client.headManifest('b/app', 'v1'))?.digest, md);
  t.deepEqual((await client.getManifest('b/app', md))?.bytes, manifest);
  t.deepEqual(await client.listTags('b/app'), ['v1']);
  t.is(await client.referrers('b/app', md), undefined);
  t.true(await client.deleteManifest('b/app', md));
  t.is(await client.headManifest('b/app', md), undefined);
});
