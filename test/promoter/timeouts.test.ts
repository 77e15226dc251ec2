// Every network call has a timeout: an endpoint that accepts connections and never answers (or
// stops mid-body) fails with a clear message, for registries, S3 and GCS, and a dry run against
// such a destination reports it unreachable instead of hanging.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends, s3ClientFor } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { GcsStore } from '../../src/promoter/stores/gcs.js';
import { S3Store } from '../../src/promoter/stores/s3.js';
import { D1, tree } from './fixtures.js';
import { captureIo } from '../helpers/io.js';

const FAST = { responseMs: 300, idleMs: 300 };

/** Accepts connections; with `partial`, answers headers and a few body bytes, then goes silent. */
async function silent(partial = false) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (partial) socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\nsome bytes'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

test('registry: no answer, and a body that stalls, fail with clear messages', async (t) => {
  const hung = await silent();
  t.teardown(hung.stop);
  const client = new RegistryClient(hung.host, { timeouts: FAST });
  const started = Date.now();
  await t.throwsAsync(client.headManifest('p/app', 'v1'), { message: new RegExp(`HEAD http://${hung.host}/v2/p/app/manifests/v1: no response within 0.3s`) });
  t.true(Date.now() - started < 5000);

  const stalls = await silent(true);
  t.teardown(stalls.stop);
  // The headers come at once; only the body stalls. A generous header bound keeps a loaded
  // machine from failing the request before the stall this test is about.
  const { body } = await new RegistryClient(stalls.host, { timeouts: { ...FAST, responseMs: 10_000 } }).getBlob('p/app', D1);
  await t.throwsAsync(new Response(body).arrayBuffer(), { message: /response body stalled for 0\.3s/ });
});

test('S3 and GCS: a silent endpoint fails instead of hanging', async (t) => {
  const hung = await silent();
  t.teardown(hung.stop);
  // Credentials, so the request really goes out (s3ClientFor reads the usual AWS environment).
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  const s3 = s3ClientFor({ AWS_ENDPOINT_URL_S3: hung.url }, FAST);
  t.teardown(() => s3.destroy());
  const started = Date.now();
  await t.throwsAsync(new S3Store('s3://prod/x/', s3).stat('a'), { message: /exceeded the configured 300 ms requestTimeout/ });
  const gcs = new GcsStore('gs://prod/x/', { endpoint: hung.url, timeouts: FAST });
  await t.throwsAsync(gcs.stat('a'), { message: /no response within 0\.3s/ });
  t.true(Date.now() - started < 10_000, `${Date.now() - started} ms`);
});

test('a dry run against a destination that never answers reports it unreachable, in bounded time', async (t) => {
  const hung = await silent();
  t.teardown(hung.stop);
  const staging = await silent();
  t.teardown(staging.stop);
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const p = 'k8s-staging-app';
  await mkdir(join(dir, 'manifests', p), { recursive: true });
  await mkdir(join(dir, 'images', p), { recursive: true });
  await writeFile(join(dir, 'manifests', p, 'promoter-manifest.yaml'), `registries:\n- name: ${staging.host}/${p}\n  src: true\n- name: ${hung.host}/prod\n`);
  await writeFile(join(dir, 'images', p, 'images.yaml'), `- name: app\n  dmap:\n    "${D1}": ["v1"]\n`);
  const { out, io } = captureIo();
  const started = Date.now();
  const r = await promote({ dir, confirm: false, prune: false, parallel: 2, retry: { attempts: 2, baseMs: 1, maxMs: 2 } }, createBackends({ timeouts: FAST }), io);
  t.is(r.exitCode, 1);
  t.regex(out.stdout, new RegExp(`^unreachable: ${hung.host}: GET http://${hung.host}/v2/prod/artifact-serving-ledger/manifests/images--${p}: no response within 0\\.3s`, 'm'));
  t.regex(out.stdout, new RegExp(`error: unreachable: 1 location\\(s\\) on ${hung.host} not checked .*: ${hung.host}/prod\n`));
  t.true(Date.now() - started < 20_000);
});
