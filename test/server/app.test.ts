// The HTTP surface through a real server on 127.0.0.1 and Node's fetch.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { startRedirector, type InProcessRedirector } from '../helpers/redirector.js';
import { writeConfig } from '../helpers/config.js';
import { NO_CHECKS, type MirrorStateService } from '../../src/mirrors/state-view.js';

const CONFIG = `
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: https://eu.registry.example, repository: prod/images }
  us-reg: { registry: https://us.registry.example, repository: prod/images }
  eu-files: { url: https://eu.files.example }
  us-files: { url: https://us.files.example }
routes:
  - prefix: /v2/
    regions: { Europe: eu-reg }
    default: us-reg
  - prefix: /bin
    regions: { Europe: eu-files }
    default: us-files
`;

let redirector: InProcessRedirector;
let configFile: string;
test.before(async () => {
  configFile = writeConfig(CONFIG);
  redirector = await startRedirector(configFile);
});
test.after.always(() => redirector?.close());

const get = (path: string, init: RequestInit = {}) => fetch(`${redirector.url}${path}`, { redirect: 'manual', ...init });

test.serial('GET /v2/ answers 200 with the API version header', async (t) => {
  for (const method of ['GET', 'HEAD']) {
    const response = await get('/v2/', { method });
    t.is(response.status, 200);
    t.is(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  }
});

test.serial('a manifest GET redirects with the mirror named; the reasons only on request', async (t) => {
  const response = await get('/v2/pause/manifests/3.10', { headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(response.status, 307);
  t.is(response.headers.get('location'), 'https://eu.registry.example/v2/prod/images/pause/manifests/3.10');
  t.is(response.headers.get('x-artifact-mirror'), 'eu-reg');
  t.regex(response.headers.get('cache-control') ?? '', /private/);
  // No registry client reads these: left out unless asked for.
  t.deepEqual(
    [...response.headers.keys()].filter((name) => name.startsWith('x-artifact-') || name === 'link'),
    ['x-artifact-mirror'],
  );

  const debug = await get('/v2/pause/manifests/3.10', { headers: { 'X-Forwarded-For': '81.2.69.160', 'X-Artifact-Debug': '1' } });
  t.is(debug.headers.get('x-artifact-mirror'), 'eu-reg');
  t.is(debug.headers.get('x-artifact-region'), 'Europe');
  t.is(debug.headers.get('x-artifact-client'), 'ip=81.2.69.160; country=GB; continent=EU');
  t.is(debug.headers.get('link'), '<https://us.registry.example/v2/prod/images/pause/manifests/3.10>; rel=duplicate; pri=1');
});

test.serial('a binary redirect carries Link (RFC 6249) for Metalink clients, without debug headers', async (t) => {
  const response = await get('/bin/tool', { headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(response.status, 302);
  t.is(response.headers.get('link'), '<https://us.files.example/tool>; rel=duplicate; pri=1');
  t.is(response.headers.get('x-artifact-client'), null);
  t.is(response.headers.get('x-artifact-region'), null);
});

test.serial('HEAD redirects too, and a binary gets 302', async (t) => {
  const response = await get('/bin/v1/tool.tar.gz', { method: 'HEAD' });
  t.is(response.status, 302);
  t.is(response.headers.get('location'), 'https://us.files.example/v1/tool.tar.gz');
});

test.serial('errors are OCI JSON with a clear message', async (t) => {
  const cases: [string, RequestInit, number, string][] = [
    ['/v2/pause/manifests/3.10', { method: 'DELETE' }, 405, 'UNSUPPORTED'],
    ['/v2/_catalog', {}, 404, 'UNSUPPORTED'],
    ['/v2/Bad/manifests/1', {}, 400, 'NAME_INVALID'],
    ['/v2/pause/blobs/sha256:00', {}, 400, 'DIGEST_INVALID'],
    ['/bin/a%2f..%2fb', {}, 400, 'PATH_INVALID'],
    ['/nothing/here', {}, 404, 'NOT_FOUND'],
  ];
  for (const [path, init, status, code] of cases) {
    const response = await get(path, init);
    t.is(response.status, status, path);
    t.regex(response.headers.get('content-type') ?? '', /application\/json/);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    t.is(body.errors[0]?.code, code, path);
    t.true((body.errors[0]?.message.length ?? 0) > 5);
  }
});

test.serial('a raw request with traversal never reaches a mirror', async (t) => {
  // fetch normalises "..", so send the bytes ourselves.
  const { connect } = await import('node:net');
  const port = Number(new URL(redirector.url).port);
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end('GET /bin/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let raw = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk));
  await once(socket, 'end');
  t.regex(raw, /^HTTP\/1\.1 400/);
  t.notRegex(raw, /Location:/i);
});

test.serial('health, readiness and metrics', async (t) => {
  t.is((await get('/healthz')).status, 200);
  const ready = (await (await get('/readyz')).json()) as { status: string; routes: number };
  t.is(ready.status, 'ready');
  t.is(ready.routes, 2);
  const metrics = await (await get('/metrics')).text();
  t.regex(metrics, /artifact_requests_total\{type="oci",status="307",mirror="eu-reg",region="Europe"\} \d+/);
});

test.serial('a reload swaps the config; an invalid one is refused and the old one keeps serving', async (t) => {
  writeFileSync(configFile, CONFIG.replace('Europe: eu-reg', 'Europe: us-reg'));
  const result = redirector.holder.reload();
  t.true(result.ok);
  t.is((await get('/v2/x/manifests/1', { headers: { 'X-Forwarded-For': '81.2.69.160' } })).headers.get('x-artifact-mirror'), 'us-reg');

  writeFileSync(configFile, CONFIG.replace('default: us-reg', 'default: nowhere'));
  const bad = redirector.holder.reload();
  t.false(bad.ok);
  if (!bad.ok) t.regex(bad.problems[0]!.message, /mirror "nowhere" is not defined/);
  const response = await get('/v2/x/manifests/1', { headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(response.status, 307);
  t.is(response.headers.get('x-artifact-mirror'), 'us-reg');
  writeFileSync(configFile, CONFIG);
  t.true(redirector.holder.reload().ok);
});

test.serial('a change to the file is picked up by the watcher', async (t) => {
  redirector.holder.watchFile(20);
  const reloaded = new Promise<boolean>((resolve) => redirector.holder.onReload((r) => resolve(r.ok)));
  writeFileSync(configFile, CONFIG.replace('Europe: eu-files', 'Europe: us-files'));
  t.true(await reloaded);
  t.is((await get('/bin/x', { headers: { 'X-Forwarded-For': '81.2.69.160' } })).headers.get('x-artifact-mirror'), 'us-files');
  const restored = new Promise<boolean>((resolve) => redirector.holder.onReload((r) => resolve(r.ok)));
  writeFileSync(configFile, CONFIG);
  t.true(await restored);
});

test.serial('mirror lists: JSON for tools, HTML for browsers, Metalink for .meta4', async (t) => {
  const json = await get('/bin/v1/tool?mirrorlist', { headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(json.status, 200);
  const body = (await json.json()) as { path: string; mirrors: { rank: number; mirror: string; url: string }[] };
  t.is(body.path, '/bin/v1/tool');
  t.deepEqual(
    body.mirrors.map((m) => m.mirror),
    ['eu-files', 'us-files'],
  );

  const html = await get('/bin/v1/tool?mirrorlist', { headers: { 'X-Forwarded-For': '81.2.69.160', Accept: 'text/html,application/xhtml+xml' } });
  t.regex(html.headers.get('content-type') ?? '', /text\/html/);
  t.regex(await html.text(), /<a href="https:\/\/eu\.files\.example\/v1\/tool">/);

  const meta = await get('/bin/v1/tool.meta4', { headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(meta.headers.get('content-type'), 'application/metalink4+xml');
  const xml = await meta.text();
  t.regex(xml, /<file name="tool">/);
  t.regex(xml, /<url priority="1">https:\/\/eu\.files\.example\/v1\/tool<\/url>/);
  t.regex(xml, /<url priority="2">https:\/\/us\.files\.example\/v1\/tool<\/url>/);
});

test.serial('every mirror down: X-Artifact-Skipped names the mirrors passed over, not the one chosen', async (t) => {
  const allDown: MirrorStateService = { ...NO_CHECKS, health: (name) => ({ up: false, reason: `${name} probe failed` }) };
  const own = await startRedirector(writeConfig(CONFIG), allDown);
  try {
    const response = await fetch(`${own.url}/bin/tool`, { redirect: 'manual', headers: { 'X-Forwarded-For': '81.2.69.160', 'X-Artifact-Debug': '1' } });
    t.is(response.status, 302);
    t.is(response.headers.get('x-artifact-mirror'), 'us-files');
    t.is(response.headers.get('x-artifact-skipped'), 'eu-files (down: eu-files probe failed)');
  } finally {
    await own.close();
  }
});
