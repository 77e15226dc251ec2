// Pull-aware rate limits: manifest GETs per IPv4 address or IPv6 /64, blobs and HEADs free, an
// allow list, 429 with Retry-After and rate-limit headers, off by default, with a metric.
import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import { createRedirectorServer } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import type { CompiledRateLimit } from '../../src/config/compiled.js';
import { CidrTrie } from '../../src/geo/cidr-trie.js';
import { parseIp } from '../../src/geo/ip.js';
import { clientKey, isManifestPath, RateLimiter } from '../../src/server/rate-limit.js';
import { problemsOf, writeConfig } from '../helpers/config.js';
import { startRedirector } from '../helpers/redirector.js';

const ip = (text: string) => parseIp(text)!;
const DIGEST = `sha256:${'a'.repeat(64)}`;

function limit(perMinute: number, burst: number, allow: string[] = []): CompiledRateLimit {
  const trie = new CidrTrie<true>();
  for (const cidr of allow) trie.insert(cidr, true);
  return { perMinute, burst, allow: trie, maxClients: 100_000 };
}

test('a token bucket per client: burst, then one per 60/perMinute seconds', (t) => {
  let now = 0;
  const limiter = new RateLimiter(100_000, () => now);
  const rule = limit(60, 3);
  const client = ip('203.0.113.7');
  t.deepEqual(
    [1, 2, 3].map(() => limiter.take(client, rule)!.allowed),
    [true, true, true],
  );
  const refused = limiter.take(client, rule)!;
  t.like(refused, { allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 60 });
  now += 1000;
  t.true(limiter.take(client, rule)!.allowed, 'one more a second later');
  t.false(limiter.take(client, rule)!.allowed);
  t.true(limiter.take(ip('203.0.113.8'), rule)!.allowed, 'another address has its own bucket');
});

test('IPv6 clients are counted per /64; the allow list is never limited', (t) => {
  const limiter = new RateLimiter(100_000, () => 0);
  const rule = limit(60, 1, ['10.0.0.0/8', '2001:db8:ffff::/48']);
  t.is(clientKey(ip('2001:db8:1:2:aaaa::1')), '2001:db8:1:2::/64');
  t.true(limiter.take(ip('2001:db8:1:2::1'), rule)!.allowed);
  t.false(limiter.take(ip('2001:db8:1:2:ffff:ffff:ffff:ffff'), rule)!.allowed, 'same /64');
  t.true(limiter.take(ip('2001:db8:1:3::1'), rule)!.allowed, 'next /64');
  for (let i = 0; i < 5; i++) t.is(limiter.take(ip('10.1.2.3'), rule), undefined);
  for (let i = 0; i < 5; i++) t.is(limiter.take(ip('2001:db8:ffff:1::9'), rule), undefined);
});

test('only manifest paths count', (t) => {
  t.true(isManifestPath('/v2/pause/manifests/3.10'));
  t.true(isManifestPath(`/v2/a/b/manifests/${DIGEST}`));
  t.false(isManifestPath(`/v2/pause/blobs/${DIGEST}`));
  t.false(isManifestPath('/v2/'));
  t.false(isManifestPath('/files/manifests/x'));
});

const CONFIG = `trustedProxies: [127.0.0.1/32]
rateLimit:
  manifestsPerMinute: 60
  burst: 2
  allow: [192.0.2.0/24]
mirrors:
  reg: { registry: https://reg.example, probe: false }
  files: { url: https://files.example }
routes:
  - prefix: /v2/
    default: reg
  - prefix: /bin
    default: files
`;

test('over HTTP: 429 with Retry-After, rate-limit headers and an OCI error; blobs, HEADs, others and the allow list go on', async (t) => {
  const redirector = await startRedirector(writeConfig(CONFIG));
  t.teardown(() => redirector.close());
  const get = (path: string, from: string, method = 'GET') => fetch(`${redirector.url}${path}`, { method, redirect: 'manual', headers: { 'X-Forwarded-For': from } });
  const first = await get('/v2/pause/manifests/3.10', '198.51.100.1');
  t.is(first.status, 307);
  t.is(first.headers.get('ratelimit-limit'), '60');
  t.is(first.headers.get('ratelimit-remaining'), '1');
  t.is(first.headers.get('x-ratelimit-remaining'), '1');
  t.is(first.headers.get('ratelimit-policy'), '60;w=60;burst=2');
  t.is((await get('/v2/pause/manifests/3.10', '198.51.100.1')).status, 307);
  const refused = await get('/v2/pause/manifests/3.10', '198.51.100.1');
  t.is(refused.status, 429);
  t.is(refused.headers.get('retry-after'), '1');
  t.is(refused.headers.get('ratelimit-remaining'), '0');
  t.is(refused.headers.get('x-ratelimit-limit'), '60');
  t.is(refused.headers.get('content-type'), 'application/json');
  t.is(refused.headers.get('docker-distribution-api-version'), 'registry/2.0');
  const body = (await refused.json()) as { errors: { code: string; message: string }[] };
  t.is(body.errors[0]!.code, 'TOOMANYREQUESTS');
  t.regex(body.errors[0]!.message, /at most 60 a minute; retry in 1 s/);

  // Blobs, HEADs and binaries are cheap redirects: never counted, never limited.
  for (let i = 0; i < 20; i++) t.is((await get(`/v2/pause/blobs/${DIGEST}`, '198.51.100.1')).status, 307);
  const head = await get('/v2/pause/manifests/3.10', '198.51.100.1', 'HEAD');
  t.is(head.status, 307);
  t.is(head.headers.get('ratelimit-limit'), null);
  t.is((await get('/bin/tool', '198.51.100.1')).status, 302);
  // Another client, and the allow list.
  t.is((await get('/v2/pause/manifests/3.10', '198.51.100.2')).status, 307);
  for (let i = 0; i < 5; i++) {
    const allowed = await get('/v2/pause/manifests/3.10', '192.0.2.9');
    t.is(allowed.status, 307);
    t.is(allowed.headers.get('ratelimit-limit'), null);
  }
  const metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  t.regex(metrics, /^artifact_rate_limited_total 1$/m);
  t.regex(metrics, /^artifact_rate_limit_clients 2$/m);
});

test('off by default: no limit and no headers', async (t) => {
  const redirector = await startRedirector(writeConfig(CONFIG.replace(/rateLimit:\n( {2}.*\n)+/, '')));
  t.teardown(() => redirector.close());
  for (let i = 0; i < 10; i++) {
    const response = await fetch(`${redirector.url}/v2/pause/manifests/3.10`, { redirect: 'manual' });
    t.is(response.status, 307);
    t.is(response.headers.get('ratelimit-limit'), null);
  }
});

test('config problems in rateLimit are reported at file:line:column', (t) => {
  t.deepEqual(problemsOf(CONFIG.replace('192.0.2.0/24', '192.0.2.0/33')), ['config.yaml:5:11: "192.0.2.0/33" is not a valid CIDR or address']);
  t.deepEqual(problemsOf(CONFIG.replace('burst: 2', 'bursts: 2')), ['config.yaml:4:3: unknown key "bursts" (at rateLimit)']);
  t.deepEqual(problemsOf(CONFIG.replace('manifestsPerMinute: 60', 'manifestsPerMinute: 0')), ['config.yaml:3:23: Too small: expected number to be >=1 (at rateLimit.manifestsPerMinute)']);
});

test('under serve --workers 2, each worker enforces half the limit (rounded up)', async (t) => {
  const file = writeConfig(CONFIG);
  const loaded = loadConfigFile(file);
  if (!loaded.ok) throw new Error('config');
  const server = createRedirectorServer({ holder: new ConfigHolder(file, loaded.config), state: NO_CHECKS, metrics: createMetrics(), workers: 2 }).listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const get = () => fetch(`http://127.0.0.1:${port}/v2/pause/manifests/3.10`, { redirect: 'manual', headers: { 'X-Forwarded-For': '198.51.100.1' } });
  const first = await get();
  t.is(first.status, 307);
  t.is(first.headers.get('ratelimit-policy'), '30;w=60;burst=1');
  const refused = await get();
  t.is(refused.status, 429);
  t.regex(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /at most 30 a minute; retry in 2 s/);
});
