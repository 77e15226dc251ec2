/**
 * Proves the e2e harness itself: real docker-registry, skopeo and nginx peers on 127.0.0.1.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildMultiArchImage, pushImage, writeRandomFile, type BuiltImage } from '../helpers/image.js';
import { freePort, requireTool, skopeo, startNginx, startRegistry, type Peer } from '../helpers/peers.js';

async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `artifact-serving-test-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function registry(t: ExecutionContext, opts?: { dir?: string; port?: number }): Promise<Peer> {
  const peer = await startRegistry(opts);
  t.teardown(() => peer.stop());
  return peer;
}

async function image(t: ExecutionContext, seed: string, tag: string): Promise<BuiltImage> {
  return buildMultiArchImage(await tempDir(t, 'layout'), { seed, tag });
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface IndexJson {
  mediaType: string;
  manifests: { digest: string; mediaType: string; platform?: { os: string; architecture: string } }[];
}

async function inspectRaw(host: string, ref: string): Promise<string> {
  const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/${ref}`]);
  return stdout;
}

test('requireTool names the Debian package of a missing binary', (t) => {
  t.notThrows(() => requireTool('sh', 'dash'));
  const error = t.throws(() => requireTool('artifact-serving-no-such-tool', 'no-such-package'));
  t.is(error?.message, 'missing tool artifact-serving-no-such-tool: install the Debian package no-such-package (apt-get install no-such-package)');
});

test('freePort gives a loopback port that can be bound', async (t) => {
  const port = await freePort();
  t.true(port > 0 && port < 65536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.pass();
});

test('buildMultiArchImage is deterministic by seed', async (t) => {
  const [a, b, c] = await Promise.all([image(t, 'one', 'v1'), image(t, 'one', 'v1'), image(t, 'two', 'v1')]);
  t.is(a.indexDigest, b.indexDigest);
  t.not(a.indexDigest, c.indexDigest);
  t.deepEqual(
    a.platforms.map((p) => `${p.os}/${p.architecture}`),
    ['linux/amd64', 'linux/arm64'],
  );
  // The layout's files hold exactly the digests it claims.
  const indexBytes = await readFile(join(a.layoutDir, 'blobs', 'sha256', a.indexDigest.slice('sha256:'.length)));
  t.is(sha256(indexBytes), a.indexDigest);
  const layout = JSON.parse(await readFile(join(a.layoutDir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations: Record<string, string> }[];
  };
  t.is(layout.manifests[0]?.digest, a.indexDigest);
  t.is(layout.manifests[0]?.annotations['org.opencontainers.image.ref.name'], 'v1');
});

test('push a multi-arch image; skopeo inspect --raw returns the same index', async (t) => {
  const reg = await registry(t);
  const img = await image(t, 'push-inspect', 'v1');
  const pushed = await pushImage(img, reg.host, 'test/app', 'v1');
  t.is(pushed, img.indexDigest);

  const raw = await inspectRaw(reg.host, 'test/app:v1');
  t.is(sha256(raw), img.indexDigest);
  const index = JSON.parse(raw) as IndexJson;
  t.is(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  t.deepEqual(
    index.manifests.map((m) => [m.platform?.os, m.platform?.architecture, m.digest]),
    img.platforms.map((p) => [p.os, p.architecture, p.digest]),
  );

  // Each platform manifest and its blobs are there, byte for byte, over the plain registry API.
  for (const platform of img.platforms) {
    const manifestRaw = await inspectRaw(reg.host, `test/app@${platform.digest}`);
    t.is(sha256(manifestRaw), platform.digest);
    const manifest = JSON.parse(manifestRaw) as { config: { digest: string }; layers: { digest: string }[] };
    t.is(manifest.config.digest, platform.configDigest);
    t.deepEqual(
      manifest.layers.map((l) => l.digest),
      platform.layerDigests,
    );
    for (const digest of [platform.configDigest, ...platform.layerDigests]) {
      const res = await fetch(`${reg.url}/v2/test/app/blobs/${digest}`);
      t.is(res.status, 200);
      t.is(sha256(Buffer.from(await res.arrayBuffer())), digest);
    }
  }
  const head = await fetch(`${reg.url}/v2/test/app/manifests/v1`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.index.v1+json' },
  });
  t.is(head.headers.get('docker-content-digest'), img.indexDigest);
});

test('skopeo copy --all between two registries keeps the digest', async (t) => {
  const [a, b] = await Promise.all([registry(t), registry(t)]);
  const img = await image(t, 'copy', 'v2');
  await pushImage(img, a.host, 'staging/app', 'v2');
  await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${a.host}/staging/app:v2`, `docker://${b.host}/production/app:v2`]);
  t.is(sha256(await inspectRaw(b.host, 'production/app:v2')), img.indexDigest);
  for (const platform of img.platforms) {
    t.is(sha256(await inspectRaw(b.host, `production/app@${platform.digest}`)), platform.digest);
  }
  // A missing image fails with skopeo's message, or returns the code when allowed.
  const missing = `docker://${b.host}/production/absent:v2`;
  await t.throwsAsync(skopeo(['inspect', '--raw', '--tls-verify=false', missing]), { message: /skopeo inspect/ });
  const allowed = await skopeo(['inspect', '--raw', '--tls-verify=false', missing], { allowFail: true });
  t.not(allowed.code, 0);
  t.regex(allowed.stderr, /manifest unknown|not found|name unknown/i);
});

test('nginx serves written files byte for byte, 404 for missing, extra server config', async (t) => {
  const peer = await startNginx({ extraServerConfig: 'location /broken { return 500; }' });
  t.teardown(() => peer.stop());
  const size = 3 * 1024 * 1024 + 123;
  const hex = await writeRandomFile(join(peer.dir, 'releases', 'v1.0.0', 'tool-linux-amd64'), size, 'nginx');
  t.is(await writeRandomFile(join(await tempDir(t, 'again'), 'same'), size, 'nginx'), hex);

  const res = await fetch(`${peer.url}/releases/v1.0.0/tool-linux-amd64`);
  t.is(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  t.is(body.length, size);
  t.is(createHash('sha256').update(body).digest('hex'), hex);

  const range = await fetch(`${peer.url}/releases/v1.0.0/tool-linux-amd64`, { headers: { range: 'bytes=10-19' } });
  t.is(range.status, 206);
  t.deepEqual(Buffer.from(await range.arrayBuffer()), body.subarray(10, 20));

  const missing = await fetch(`${peer.url}/releases/v1.0.0/absent`);
  await missing.arrayBuffer();
  t.is(missing.status, 404);
  const broken = await fetch(`${peer.url}/broken`);
  await broken.arrayBuffer();
  t.is(broken.status, 500);
});

test('a stopped registry refuses connections; restarting on its dir keeps the data', async (t) => {
  const first = await registry(t);
  const img = await image(t, 'restart', 'v3');
  await pushImage(img, first.host, 'test/keep', 'v3');
  await first.stop();
  await first.stop(); // idempotent
  const refused = await t.throwsAsync(fetch(`${first.url}/v2/`));
  t.regex(String((refused?.cause as { code?: string } | undefined)?.code), /ECONNREFUSED/);

  const second = await registry(t, { dir: first.dir, port: first.port });
  t.is(second.port, first.port);
  t.is(second.dir, first.dir);
  t.is(sha256(await inspectRaw(second.host, 'test/keep:v3')), img.indexDigest);

  // Deletes are enabled.
  const amd64 = img.platforms[0]!;
  const del = await fetch(`${second.url}/v2/test/keep/manifests/${amd64.digest}`, { method: 'DELETE' });
  await del.arrayBuffer();
  t.is(del.status, 202);
});

test('two nginx instances run side by side with their own roots', async (t) => {
  const [a, b] = await Promise.all([startNginx(), startNginx()]);
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  t.not(a.port, b.port);
  t.not(a.dir, b.dir);
  const ha = await writeRandomFile(join(a.dir, 'f'), 1000, 'a');
  const hb = await writeRandomFile(join(b.dir, 'f'), 1000, 'b');
  t.not(ha, hb);
  for (const [peer, hex] of [
    [a, ha],
    [b, hb],
  ] as const) {
    const body = Buffer.from(await (await fetch(`${peer.url}/f`)).arrayBuffer());
    t.is(createHash('sha256').update(body).digest('hex'), hex);
  }
});

test('a peer whose port is taken fails with the tail of its log, not a stranger taken for it', async (t) => {
  // A plain HTTP server answering 200 everywhere holds the port.
  const { createServer: createHttpServer } = await import('node:http');
  const stranger = createHttpServer((_req, res) => res.end('{}'));
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    stranger.once('error', reject);
    stranger.listen({ host: '127.0.0.1', port }, resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => stranger.close(() => resolve())));
  await t.throwsAsync(startRegistry({ port }), { message: /exited during startup[\s\S]*address already in use/ });
  await t.throwsAsync(startNginx({ port }), { message: /exited during startup[\s\S]*Address already in use/ });
});
