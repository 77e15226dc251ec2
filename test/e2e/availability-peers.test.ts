// The availability cache's HEAD checks against real peers: nginx for files, docker-registry for blobs.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AvailabilityCache } from '../../src/mirrors/availability-cache.js';
import { startNginx, startRegistry } from '../helpers/peers.js';

test('real nginx: object HEAD present with its length, absent after removal', async (t) => {
  const peer = await startNginx();
  t.teardown(() => peer.stop());
  await mkdir(join(peer.dir, 'release/v1.0.0'), { recursive: true });
  await writeFile(join(peer.dir, 'release/v1.0.0/tool'), 'x'.repeat(2048));
  const cache = new AvailabilityCache();
  t.like(await cache.check('nginx', 'release/v1.0.0/tool', `${peer.url}/release/v1.0.0/tool`, { kind: 'binary' }), {
    state: 'present',
    contentLength: 2048,
  });
  await rm(join(peer.dir, 'release/v1.0.0/tool'));
  t.like(await cache.check('nginx', 'release/v1.0.0/tool', `${peer.url}/release/v1.0.0/tool`, { kind: 'binary' }), {
    state: 'absent',
    status: 404,
  });
  t.like(await cache.check('nginx', 'release/v1.0.0/nope', `${peer.url}/release/v1.0.0/nope`, { kind: 'binary' }), {
    state: 'absent',
    status: 404,
  });
  t.like(await cache.check('nginx', 'release/v1.0.0', `${peer.url}/release/v1.0.0`, { kind: 'binary' }), { state: 'error' }, 'a directory redirect is not an object');
});

test('real docker-registry: blob HEAD present with its length, absent for an unknown digest', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  const content = Buffer.from('a layer, more or less');
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const started = await fetch(`${registry.url}/v2/probe/x/blobs/uploads/`, { method: 'POST' });
  t.is(started.status, 202);
  const upload = new URL(started.headers.get('location')!, registry.url);
  upload.searchParams.set('digest', digest);
  const put = await fetch(upload, { method: 'PUT', body: content, headers: { 'content-type': 'application/octet-stream' } });
  t.is(put.status, 201);

  const cache = new AvailabilityCache();
  const blobUrl = (d: string) => `${registry.url}/v2/probe/x/blobs/${d}`;
  t.like(await cache.check('reg', digest, blobUrl(digest), { kind: 'blob' }), { state: 'present', contentLength: content.length });
  const missing = `sha256:${'0'.repeat(64)}`;
  t.like(await cache.check('reg', missing, blobUrl(missing), { kind: 'blob' }), { state: 'absent', status: 404 });
});
