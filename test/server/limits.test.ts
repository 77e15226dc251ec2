// Server limits and Node's parser-level rejections, on a real server over loopback: a slowloris
// head is dropped within the headers timeout, too-large headers and bad requests get an OCI
// JSON error body, connections and requests per connection are capped.
import test from 'ava';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import { createRedirectorServer } from '../../src/server/app.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../../src/server/limits.js';
import { createMetrics } from '../../src/server/metrics.js';
import { writeConfig } from '../helpers/config.js';

const CONFIG = writeConfig(`mirrors:
  us: { url: https://us.example }
  reg: { registry: https://reg.example, probe: false }
routes:
  - prefix: /bin
    default: us
  - prefix: /v2/
    default: reg
`);

const servers = new Map<number, Server>();

/** Resolves once the server holds exactly `n` connections (it counts them as they are accepted). */
async function connectionsReach(port: number, n: number): Promise<void> {
  const server = servers.get(port)!;
  for (;;) {
    const count = await new Promise<number>((resolve, reject) => server.getConnections((e, c) => (e ? reject(e) : resolve(c))));
    if (count === n) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function start(t: import('ava').ExecutionContext, limits: Partial<ServerLimits>): Promise<number> {
  const loaded = loadConfigFile(CONFIG);
  if (!loaded.ok) throw new Error('bad test config');
  const server = createRedirectorServer({ holder: new ConfigHolder(CONFIG, loaded.config), state: NO_CHECKS, metrics: createMetrics(), limits }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  servers.set(port, server);
  return port;
}

/** Sends raw bytes and collects everything until the server closes the connection. */
async function raw(port: number, text: string, timeoutMs = 10_000): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
  socket.on('error', () => {});
  socket.write(text);
  const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
  // Not once(socket, 'close'): that rejects on the reset a refused connection gets.
  await new Promise((resolve) => socket.once('close', resolve));
  clearTimeout(timer);
  return answer;
}

function body(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
}

test('the defaults are set and each is finite', (t) => {
  t.like(DEFAULT_LIMITS, { headersTimeoutMs: 10_000, keepAliveTimeoutMs: 15_000, maxConnections: 10_000, maxHeaderSize: 16384 });
  t.true(DEFAULT_LIMITS.requestTimeoutMs >= DEFAULT_LIMITS.headersTimeoutMs);
});

test('slowloris connections trickling a head are dropped within the headers timeout, with a 408 in OCI JSON', async (t) => {
  const port = await start(t, { headersTimeoutMs: 1000, requestTimeoutMs: 1500, connectionsCheckingIntervalMs: 200 });
  const sockets: Socket[] = [];
  const started = performance.now();
  const closed = Array.from({ length: 200 }, async () => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let answer = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {});
    socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X-a: b\r\n'), 100);
    await once(socket, 'close');
    clearInterval(trickle);
    return answer;
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  const answers = await Promise.all(closed);
  const elapsed = performance.now() - started;
  t.true(elapsed < 8000, `all dropped in ${Math.round(elapsed)} ms`);
  t.regex(answers[0]!, /^HTTP\/1\.1 408 /);
  t.deepEqual(body(answers[0]!), { errors: [{ code: 'REQUEST_TIMEOUT', message: 'the request was not received in time' }] });
  // The server still answers.
  t.regex(await raw(port, 'GET /bin/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 302 /);
});

test('headers larger than the limit get 431 with an OCI JSON body and the API version on /v2/', async (t) => {
  const port = await start(t, {});
  const answer = await raw(port, `GET /v2/pause/manifests/3.10 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.regex(answer, /^HTTP\/1\.1 431 /);
  t.regex(answer, /\r\nContent-Type: application\/json\r\n/);
  t.regex(answer, /\r\nDocker-Distribution-Api-Version: registry\/2\.0\r\n/);
  t.deepEqual(body(answer), { errors: [{ code: 'HEADERS_TOO_LARGE', message: 'the request headers are too large' }] });
});

test('a request Node cannot parse gets 400 with an OCI JSON body', async (t) => {
  const port = await start(t, {});
  const answer = await raw(port, 'GET /v2/ HTTP/1.1\r\nHost x\r\n\r\n');
  t.regex(answer, /^HTTP\/1\.1 400 /);
  t.deepEqual(body(answer), { errors: [{ code: 'BAD_REQUEST', message: 'the request is not valid HTTP/1.1' }] });
});

test('connections beyond maxConnections are closed at once', async (t) => {
  const port = await start(t, { maxConnections: 5 });
  const sockets = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      return socket;
    }),
  );
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  // The server has registered all five before the sixth arrives.
  await connectionsReach(port, 5);
  t.is(await raw(port, 'GET /bin/x HTTP/1.1\r\nHost: x\r\n\r\n'), '');
  sockets.pop()!.destroy();
  await connectionsReach(port, 4);
  t.regex(await raw(port, 'GET /bin/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 302 /);
});

test('a keep-alive connection is told to close after maxRequestsPerSocket requests', async (t) => {
  const port = await start(t, { maxRequestsPerSocket: 3 });
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let answer = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
  const heads: string[] = [];
  for (let i = 0; i < 3; i++) {
    const before = answer.length;
    socket.write('GET /bin/a HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!answer.slice(before).includes('\r\n\r\n')) await once(socket, 'data');
    heads.push(answer.slice(before));
  }
  t.notRegex(heads[0]!, /Connection: close/i);
  t.regex(heads[2]!, /^HTTP\/1\.1 302 [\s\S]*Connection: close/i);
});
