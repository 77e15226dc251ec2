// The ownership token: only the key's holder can make one, and one mirror's token vouches for no other.
import test from 'ava';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { CompiledMirror } from '../../src/config/compiled.js';
import { ownershipToken, readToken, registryDestination, tokenProblem, tokenUrl } from '../../src/trust/ownership.js';

const KEY = 'k'.repeat(32);

test('a token verifies for its own destination only', (t) => {
  const token = ownershipToken(KEY, 'eu.registry.example/prod/kops/');
  t.is(tokenProblem(KEY, 'eu.registry.example/prod/kops', token), undefined);
  t.is(tokenProblem(KEY, 'us.registry.example/prod/kops', token), 'ownership token belongs to eu.registry.example/prod/kops, not us.registry.example/prod/kops');
  t.is(tokenProblem('x'.repeat(32), 'eu.registry.example/prod/kops', token), 'ownership token not made with our key');
  t.is(tokenProblem(KEY, 'eu.registry.example/prod/kops', undefined), 'ownership token missing');
  t.is(tokenProblem(KEY, 'eu.registry.example/prod/kops', '{"destination":"eu.registry.example/prod/kops","mac":"00"}'), 'ownership token malformed');
  t.is(tokenProblem(KEY, 'eu.registry.example/prod/kops', 'not json'), 'ownership token is not JSON');
});

const registry: CompiledMirror = { name: 'eu-reg', kind: 'registry', base: 'http://127.0.0.1:1', repository: 'prod/images', weight: 1 };

test('a registry mirror is its host and repository; its token lives beside the ledger', (t) => {
  t.is(registryDestination(registry, 'kops'), '127.0.0.1:1/prod/images/kops');
  t.is(registryDestination({ ...registry, repository: '' }, ''), '127.0.0.1:1');
  t.is(tokenUrl(registry, 'kops'), 'http://127.0.0.1:1/v2/prod/images/kops/artifact-serving-ledger/manifests/owner');
  t.is(tokenUrl({ ...registry, kind: 'binary', base: 'https://files.example/base' }, ''), 'https://files.example/base/.artifact-serving/owner.json');
});

test('a blob bucket holds its token as a file at its base, as file destinations do', async (t) => {
  const token = ownershipToken(KEY, 's3://prod-blobs/eu');
  const server = createServer((req, res) => {
    if (req.url === '/base/.artifact-serving/owner.json') res.end(`${token}\n`);
    else res.writeHead(404).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const bucket: CompiledMirror = { name: 'bucket', kind: 'blobs', base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/base`, repository: '', layout: 'containers/images/{digest}', weight: 1 };
  t.is(tokenUrl(bucket, 'kops'), `${bucket.base}/.artifact-serving/owner.json`);
  t.is(tokenProblem(KEY, 's3://prod-blobs/eu', await readToken(bucket, '')), undefined);
  t.is(tokenProblem(KEY, 's3://other-bucket', await readToken(bucket, '')), 'ownership token belongs to s3://prod-blobs/eu, not s3://other-bucket');
});

test('readToken: the annotation of the owner manifest; absent on 404; an error on 5xx', async (t) => {
  const token = ownershipToken(KEY, '127.0.0.1/prod');
  const server = createServer((req, res) => {
    if (req.url?.includes('/good/')) res.end(JSON.stringify({ annotations: { 'dev.artifact-serving.owner': token } }));
    else if (req.url?.includes('/broken/')) res.writeHead(503).end();
    else res.writeHead(404).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mirror = { ...registry, base, repository: '' };
  t.is(await readToken(mirror, 'good'), token);
  t.is(await readToken(mirror, 'missing'), undefined);
  await t.throwsAsync(readToken(mirror, 'broken'), { message: /HTTP 503/ });
});
