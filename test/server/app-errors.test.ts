// Failures inside the decision or the availability checks answer 500 in the OCI shape, and the
// server keeps serving.
import test from 'ava';
import type { MirrorStateService } from '../../src/mirrors/state-view.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';

const CONFIG = writeConfig(`
mirrors:
  a: { url: https://a.example }
  origin: { url: https://origin.example }
routes:
  - prefix: /broken
    default: a
  - prefix: /checked
    default: a
    origin: origin
`);

test('a throwing state view and a failing check each give a 500, and the server lives on', async (t) => {
  const state: MirrorStateService = {
    ...NO_CHECKS,
    health: (name) => {
      if (name === 'a') throw new Error('state exploded');
      return { up: true };
    },
    ensureChecked: () => Promise.reject(new Error('checks exploded')),
  };
  const redirector = await startRedirector(CONFIG, state);
  t.teardown(() => redirector.close());
  const broken = await fetch(`${redirector.url}/broken/x`, { redirect: 'manual' });
  t.is(broken.status, 500);
  t.deepEqual(await broken.json(), { errors: [{ code: 'INTERNAL', message: 'internal error' }] });
  t.is((await fetch(`${redirector.url}/healthz`)).status, 200);
});

test('a failing availability check gives a 500', async (t) => {
  const state: MirrorStateService = { ...NO_CHECKS, ensureChecked: () => Promise.reject(new Error('checks exploded')) };
  const redirector = await startRedirector(CONFIG, state);
  t.teardown(() => redirector.close());
  const response = await fetch(`${redirector.url}/checked/x`, { redirect: 'manual' });
  t.is(response.status, 500);
  t.is((await fetch(`${redirector.url}/broken/x`, { redirect: 'manual' })).status, 302);
});

test('operator paths answer errors in the OCI JSON shape: unknown page, wrong method, a failing page', async (t) => {
  const state: MirrorStateService = {
    ...NO_CHECKS,
    stats: () => {
      throw new Error('stats exploded');
    },
  };
  const redirector = await startRedirector(CONFIG, state);
  t.teardown(() => redirector.close());
  const cases: [string, RequestInit, number, string][] = [
    ['/-/nope', {}, 404, 'NOT_FOUND'],
    ['/-/status', { method: 'POST' }, 405, 'UNSUPPORTED'],
    ['/-/status.json', {}, 500, 'INTERNAL'],
  ];
  for (const [path, init, status, code] of cases) {
    const response = await fetch(`${redirector.url}${path}`, init);
    t.is(response.status, status, path);
    t.regex(response.headers.get('content-type') ?? '', /^application\/json/, path);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    t.is(body.errors[0]?.code, code, path);
    t.true((body.errors[0]?.message.length ?? 0) > 5, path);
  }
  const wrongMethod = await fetch(`${redirector.url}/-/status`, { method: 'POST' });
  t.regex(wrongMethod.headers.get('allow') ?? '', /GET/);
  t.is((await fetch(`${redirector.url}/healthz`)).status, 200);
});
