// What a registry sends is checked before use: bad manifests, tag lists, referrers indexes,
// token responses and error bodies give errors naming the request and the field. The client
// talks to a fake fetch here (no socket); test/e2e/oci-client.test.ts runs it against real
// registries.
import test from 'ava';
import { RegistryClient, RegistryError, sha256Digest } from '../../src/oci/client.js';
import { descriptorSchema, errorCode, parseRegistryJson } from '../../src/oci/registry-json.js';

const HOST = '127.0.0.1:5999';
const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A client whose every request is answered by `answer` (by URL); no network. */
function client(answer: (url: URL) => Response): RegistryClient {
  const fake = (async (input: string | URL | Request) => answer(new URL(input instanceof Request ? input.url : input))) as typeof fetch;
  return new RegistryClient(HOST, { fetch: fake, retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

async function failure(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<RegistryError> {
  const error = await t.throwsAsync(p, { instanceOf: RegistryError });
  return error as RegistryError;
}

test('a tags list whose tags are not strings names the URL and the entry', async (t) => {
  const c = client(() => json({ name: 'app', tags: ['v1', 2] }));
  const e = await failure(t, c.listTags('app'));
  t.is(e.message, `GET http://${HOST}/v2/app/tags/list?n=1000: the tags list is not valid: tags[1]: Invalid input: expected string, received number`);
});

test('a tags list that is not JSON (a proxy error page) says so', async (t) => {
  const c = client(() => new Response('<html>bad gateway</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
  const e = await failure(t, c.listTags('app'));
  t.regex(e.message, new RegExp(`^GET http://${HOST.replace(/\./g, '\\.')}/v2/app/tags/list\\?n=1000: the tags list is not JSON \\(`));
});

test('tags: null and a missing tags field are an empty list', async (t) => {
  t.deepEqual(await client(() => json({ name: 'app', tags: null })).listTags('app'), []);
  t.deepEqual(await client(() => json({ name: 'app' })).listTags('app'), []);
});

test('a schema 1 manifest is refused with the reason', async (t) => {
  const c = client(() => json({ schemaVersion: 1, fsLayers: [] }, 200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }));
  const e = await failure(t, c.getManifest('app', 'v1'));
  t.is(e.message, `GET http://${HOST}/v2/app/manifests/v1: the manifest is not valid: schemaVersion: must be 2 (schema 1 manifests are not supported)`);
});

test('a manifest whose layer has a bad digest and no size names both fields', async (t) => {
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest: DIGEST, size: 2 }, layers: [{ mediaType: 'y', digest: 'md5:??' }] });
  const c = client(() => json(bytes, 200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }));
  const e = await failure(t, c.getManifest('app', sha256Digest(bytes)));
  t.is(
    e.message,
    `GET http://${HOST}/v2/app/manifests/${sha256Digest(bytes)}: the manifest is not valid: layers[0].digest: not a digest (algorithm:hex); layers[0].size: Invalid input: expected number, received undefined`,
  );
});

test('a good manifest is returned as sent, its media type from the body when the header is missing', async (t) => {
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ size: 7, digest: DIGEST, mediaType: 'z', platform: { os: 'linux' } }] });
  const c = client(() => new Response(new TextEncoder().encode(bytes))); // no content-type header
  const m = await c.getManifest('app', 'v1');
  t.is(m?.bytes.toString(), bytes);
  t.is(m?.mediaType, 'application/vnd.oci.image.index.v1+json');
});

test('a referrers index whose manifests is not a list names the URL', async (t) => {
  const c = client(() => json({ schemaVersion: 2, manifests: { digest: DIGEST } }, 200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }));
  const e = await failure(t, c.referrers('app', DIGEST));
  t.is(e.message, `GET http://${HOST}/v2/app/referrers/${DIGEST}: the referrers index is not valid: manifests: Invalid input: expected array, received object`);
});

test('a token response without a token names the realm', async (t) => {
  const c = client((url) => {
    if (url.pathname === '/token') return json({ expires_in: 300 });
    return new Response(null, { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${HOST}/token",service="test"` } });
  });
  const e = await failure(t, c.listTags('app'));
  t.is(e.message, `${HOST}: token from http://${HOST}/token: the token response is not valid: (top level): has neither token nor access_token`);
});

test('a token response that is not JSON says so', async (t) => {
  const c = client((url) => {
    if (url.pathname === '/token') return new Response('token=abc', { status: 200 });
    return new Response(null, { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${HOST}/token"` } });
  });
  const e = await failure(t, c.listTags('app'));
  t.regex(e.message, /token from http:\/\/127\.0\.0\.1:5999\/token: the token response is not JSON \(/);
});

test('an OAuth2 access_token is used like a token', async (t) => {
  const seen: (string | null)[] = [];
  const c = new RegistryClient(HOST, {
    retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.pathname === '/token') return json({ access_token: 'oauth-token' });
      const auth = new Headers(init?.headers).get('authorization');
      seen.push(auth);
      return auth ? json({ tags: ['v1'] }) : new Response(null, { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${HOST}/token"` } });
    }) as typeof fetch,
  });
  t.deepEqual(await c.listTags('app'), ['v1']);
  t.deepEqual(seen, [null, 'Bearer oauth-token']);
});

test('the code of a distribution error body is kept; anything else has none', async (t) => {
  const coded = client(() => json({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }, 404));
  const e = await failure(t, coded.getBlob('app', DIGEST));
  t.is(e.code, 'BLOB_UNKNOWN');
  t.is(e.status, 404);
  t.regex(e.message, /^GET http:\/\/127\.0\.0\.1:5999\/v2\/app\/blobs\/sha256:a+: HTTP 404 BLOB_UNKNOWN: /);
  const plain = client(() => new Response('not found, "code": "LOOKS_LIKE_ONE"', { status: 404 }));
  t.is((await failure(t, plain.getBlob('app', DIGEST))).code, undefined);
  t.is(errorCode('{"errors":[]}'), undefined, 'an empty errors list names no code');
  t.is(errorCode('{"errors":[{"code":"DENIED"},{"code":"UNAUTHORIZED"}]}'), 'DENIED');
});

test('parseRegistryJson returns the document as sent: unknown fields and key order kept', (t) => {
  const text = `{"size":3,"platform":{"os":"linux"},"digest":"${DIGEST}","mediaType":"x"}`;
  t.is(JSON.stringify(parseRegistryJson(descriptorSchema, text, 'test', 'a descriptor')), text);
});
