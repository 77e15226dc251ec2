// The audit's fetch for registry mirrors that want credentials (src/trust/auth-fetch.ts), against a
// fake registry with a Bearer token realm: the challenge is answered with the promoter's client's
// flow, the token is kept per repository, an expired one is renewed, and files pass untouched;
// without credentials the error names trust.credentials.
import test from 'ava';
import { authorizingFetch } from '../../src/trust/auth-fetch.js';

const BASE = 'http://127.0.0.1:5000';

function fakeRegistry(log: string[]) {
  let issued = 0;
  const valid = new Set<string>();
  const fake = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const auth = new Headers(init.headers).get('authorization') ?? '';
    log.push(`${url.pathname}${url.search} ${auth.split(' ')[0] ?? ''}`);
    if (url.pathname === '/token') {
      if (auth !== `Basic ${Buffer.from('u:p').toString('base64')}`) return new Response(null, { status: 401 });
      const token = `t${++issued}`;
      valid.add(token);
      return Response.json({ token });
    }
    if (!url.pathname.startsWith('/v2/')) return new Response('file');
    if (valid.has(auth.replace(/^Bearer /, ''))) return new Response('{}', { status: 200 });
    return new Response(null, { status: 401, headers: { 'www-authenticate': `Bearer realm="${BASE}/token",service="reg"` } });
  }) as typeof fetch;
  return { fake, expire: () => valid.clear() };
}

test('a Bearer challenge is answered with a token from the realm, kept per repository, renewed when it expires', async (t) => {
  const log: string[] = [];
  const { fake, expire } = fakeRegistry(log);
  const authorized = authorizingFetch(() => ({ username: 'u', password: 'p' }), fake);
  t.is((await authorized(`${BASE}/v2/kops/pause/manifests/v1`, { method: 'HEAD' })).status, 200);
  t.deepEqual(log, ['/v2/kops/pause/manifests/v1 ', '/token?service=reg&scope=repository%3Akops%2Fpause%3Apull Basic', '/v2/kops/pause/manifests/v1 Bearer']);
  log.length = 0;
  t.is((await authorized(`${BASE}/v2/kops/pause/blobs/sha256:1`)).status, 200);
  t.deepEqual(log, ['/v2/kops/pause/blobs/sha256:1 Bearer'], 'the kept token goes at once');
  expire();
  log.length = 0;
  t.is((await authorized(`${BASE}/v2/kops/pause/manifests/v1`)).status, 200);
  t.is(log.length, 3, 'an expired token: 401, a new token, the request again');
  log.length = 0;
  t.is(await (await authorized(`${BASE}/releases/kubectl`)).text(), 'file');
  t.deepEqual(log, ['/releases/kubectl '], 'not a registry path: no auth');
});

test('without credentials a challenge becomes an error that says unauthorized', async (t) => {
  const { fake } = fakeRegistry([]);
  const anonymous = authorizingFetch(() => undefined, fake);
  const error = await t.throwsAsync(anonymous(`${BASE}/v2/kops/pause/manifests/v1`));
  t.is(error!.message, 'unauthorized (HTTP 401): 127.0.0.1:5000: token request to http://127.0.0.1:5000 failed: HTTP 401 (trust.credentials has no credentials for 127.0.0.1:5000)');
});

test('a Basic challenge without credentials names the setting to fill in: trust.credentials', async (t) => {
  const basic = (async () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="reg"' } })) as typeof fetch;
  const error = await t.throwsAsync(authorizingFetch(() => undefined, basic)(`${BASE}/v2/kops/pause/manifests/v1`));
  t.is(error!.message, 'unauthorized (HTTP 401): 127.0.0.1:5000: needs credentials (basic auth) and trust.credentials has none');
});
