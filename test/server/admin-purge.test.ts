// POST /-/purge on the admin app: who may call it, what it drops, and its errors (OCI JSON).
import test from 'ava';
import { writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';
import { NO_CHECKS, type MirrorStateService } from '../../src/mirrors/state-view.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const TOKEN = 'a-token-of-some-length';

function recordingState(): MirrorStateService & { scopes: object[] } {
  const scopes: object[] = [];
  return {
    ...NO_CHECKS,
    scopes,
    purge: (scope) => {
      scopes.push(scope);
      return 7;
    },
  };
}

function config(extra = ''): string {
  return writeConfig(`${extra}
mirrors:
  eu: { registry: https://eu.example }
  origin: { registry: https://origin.example }
  files: { url: https://files.example/r }
routes:
  - prefix: /v2/
    default: eu
    origin: origin
  - prefix: /releases
    default: files
`);
}

test('from loopback: drops everything, a mirror, or one object by path or key', async (t) => {
  const state = recordingState();
  const redirector = await startRedirector(config(), state);
  t.teardown(() => redirector.close());
  const post = (query: string) => fetch(`${redirector.url}/-/purge${query}`, { method: 'POST' });

  const response = await post('');
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { purged: 'all', dropped: 7 });
  t.deepEqual(await (await post('?mirror=eu')).json(), { purged: 'mirror', mirror: 'eu', dropped: 7 });
  t.like(await (await post(`?mirror=eu&path=/v2/kops/app/manifests/${DIGEST}`)).json(), { purged: 'object', key: `manifest:kops/app:${DIGEST}` });
  t.like(await (await post(`?path=/v2/kops/app/blobs/${DIGEST}`)).json(), { purged: 'object', key: `blob:kops/app@${DIGEST}` });
  t.like(await (await post('?path=/releases/v1/tool')).json(), { key: 'file:/releases/v1/tool' });
  t.like(await (await post('?mirror=files&key=file:/releases/v1/tool')).json(), { purged: 'object', mirror: 'files' });
  t.deepEqual(state.scopes, [
    {},
    { mirror: 'eu' },
    { mirror: 'eu', key: `manifest:kops/app:${DIGEST}` },
    { key: `blob:kops/app@${DIGEST}` },
    { key: 'file:/releases/v1/tool' },
    { mirror: 'files', key: 'file:/releases/v1/tool' },
  ]);
  const metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  t.regex(metrics, /artifact_availability_purges_total\{scope="all"\} 1/);
  t.regex(metrics, /artifact_availability_purges_total\{scope="object"\} 4/);
});

test('bad requests say what is wrong, as OCI JSON errors', async (t) => {
  const state = recordingState();
  const redirector = await startRedirector(config(), state);
  t.teardown(() => redirector.close());
  const post = async (query: string) => {
    const response = await fetch(`${redirector.url}/-/purge${query}`, { method: 'POST' });
    return { status: response.status, body: (await response.json()) as { errors: { code: string; message: string }[] } };
  };
  t.like(await post('?mirror=nope'), { status: 404, body: { errors: [{ code: 'NOT_FOUND' }] } });
  t.regex((await post('?mirror=nope')).body.errors[0]!.message, /no mirror named "nope"/);
  t.like(await post('?path=/v2/kops/app/tags/list'), { status: 400, body: { errors: [{ code: 'BAD_REQUEST' }] } });
  t.like(await post('?path=/v2/Bad Name/blobs/x'), { status: 400 });
  t.like(await post('?path=/releases/../etc/passwd'), { status: 400 });
  t.like(await post(`?path=/releases/x&key=y`), { status: 400 });
  t.deepEqual(state.scopes, [], 'nothing purged by a bad request');
  const get = await fetch(`${redirector.url}/-/purge`);
  t.is(get.status, 405);
});

test('not from loopback (relayed by a proxy) without the token: 403; with it: allowed', async (t) => {
  const open = await startRedirector(config(), recordingState());
  t.teardown(() => open.close());
  const relayed = await fetch(`${open.url}/-/purge`, { method: 'POST', headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(relayed.status, 403);
  t.like(await relayed.json(), { errors: [{ code: 'DENIED', message: 'POST /-/purge is allowed only from loopback (no admin token is configured)' }] });
  const bearerWithoutConfig = await fetch(`${open.url}/-/purge`, { method: 'POST', headers: { 'X-Forwarded-For': '81.2.69.160', Authorization: `Bearer ${TOKEN}` } });
  t.is(bearerWithoutConfig.status, 403);

  const state = recordingState();
  const guarded = await startRedirector(config(`admin: { token: ${TOKEN} }`), state);
  t.teardown(() => guarded.close());
  const withToken = (token: string) => fetch(`${guarded.url}/-/purge?mirror=eu`, { method: 'POST', headers: { 'X-Forwarded-For': '81.2.69.160', Authorization: `Bearer ${token}` } });
  t.is((await withToken(TOKEN)).status, 200);
  const wrong = await withToken(`${TOKEN}x`);
  t.is(wrong.status, 403);
  const text = await wrong.text();
  t.false(text.includes(TOKEN), 'the token is never echoed');
  t.regex(text, /needs the admin bearer token/);
  t.is((await fetch(`${guarded.url}/-/purge`, { method: 'POST', headers: { Forwarded: 'for=81.2.69.160' } })).status, 403);
  t.is((await fetch(`${guarded.url}/-/purge`, { method: 'POST' })).status, 200, 'a direct loopback connection needs no token');
  t.deepEqual(state.scopes, [{ mirror: 'eu' }, {}]);
});
