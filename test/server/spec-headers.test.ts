// Distribution-spec details clients rely on: OCI-Namespace on answers to `?ns=`, Retry-After on
// 503 (and on 429: see rate-limit.test.ts).
import test from 'ava';
import { NO_CHECKS, type MirrorStateService } from '../../src/mirrors/state-view.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';

const CONFIG = `registry:
  namespaces: [registry.k8s.io]
mirrors:
  reg: { registry: https://reg.example, probe: false }
routes:
  - prefix: /v2/
    default: reg
    whenAllDown: unavailable
`;

test('OCI-Namespace names the namespace a ?ns= request was answered for, and only then', async (t) => {
  const redirector = await startRedirector(writeConfig(CONFIG));
  t.teardown(() => redirector.close());
  const get = (path: string) => fetch(`${redirector.url}${path}`, { redirect: 'manual' });
  const redirect = await get('/v2/pause/manifests/3.10?ns=registry.k8s.io');
  t.is(redirect.status, 307);
  t.is(redirect.headers.get('oci-namespace'), 'registry.k8s.io');
  const base = await get('/v2/?ns=registry.k8s.io');
  t.is(base.status, 200);
  t.is(base.headers.get('oci-namespace'), 'registry.k8s.io');
  const other = await get('/v2/pause/manifests/3.10?ns=docker.io');
  t.is(other.status, 404);
  t.is(other.headers.get('oci-namespace'), null);
  t.is((await get('/v2/pause/manifests/3.10')).headers.get('oci-namespace'), null);
});

test('with no namespaces listed, any host-name ns is echoed, and nothing else', async (t) => {
  const redirector = await startRedirector(writeConfig(CONFIG.replace(/registry:\n {2}namespaces: .*\n/, '')));
  t.teardown(() => redirector.close());
  const get = (path: string) => fetch(`${redirector.url}${path}`, { redirect: 'manual' });
  t.is((await get('/v2/pause/manifests/3.10?ns=ghcr.io')).headers.get('oci-namespace'), 'ghcr.io');
  t.is((await get('/v2/pause/manifests/3.10?ns=localhost:5000')).headers.get('oci-namespace'), 'localhost:5000');
  const odd = await get('/v2/pause/manifests/3.10?ns=%3Cscript%3E%20x');
  t.is(odd.status, 307);
  t.is(odd.headers.get('oci-namespace'), null);
});

test('503 when every mirror is down carries Retry-After', async (t) => {
  const down: MirrorStateService = { ...NO_CHECKS, health: () => ({ up: false, reason: 'test' }) };
  const redirector = await startRedirector(writeConfig(CONFIG), down);
  t.teardown(() => redirector.close());
  const response = await fetch(`${redirector.url}/v2/pause/manifests/3.10`, { redirect: 'manual' });
  t.is(response.status, 503);
  t.is(response.headers.get('retry-after'), '30');
  t.like(((await response.json()) as { errors: object[] }).errors[0], { code: 'UNAVAILABLE' });
});
