// Graceful shutdown's connection tracking (src/server/drain.ts): free on the request path until
// draining starts, and once it has, an answer already being prepared still goes out, with
// `Connection: close`, before its connection is closed.
import test from 'ava';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { trackConnections } from '../../src/server/drain.js';

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** One raw HTTP/1.1 request; resolves with everything the server sent once it closes the connection. */
async function requestUntilClosed(port: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(10_000, () => socket.destroy(new Error('no close within 10 s')));
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.write('GET /file HTTP/1.1\r\nHost: test\r\n\r\n');
  await once(socket, 'close');
  return text;
}

test('before draining, a request passes through no listener or hook of the tracker', async (t) => {
  const closeHooks: number[] = [];
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    closeHooks.push(res.listenerCount('close'));
    res.writeHead(302, ['Location', 'https://mirror.example/file', 'Content-Length', '0']).end();
  };
  const plain = createServer(handler);
  const tracked = createServer(handler);
  trackConnections(tracked);
  t.teardown(() => {
    plain.close();
    tracked.close();
  });
  t.is(tracked.listenerCount('request'), 1);
  for (const server of [plain, tracked]) {
    const response = await fetch(`http://127.0.0.1:${await listen(server)}/file`, { redirect: 'manual' });
    t.is(response.status, 302);
  }
  t.is(closeHooks[1], closeHooks[0], 'the tracked server adds no close hook to an answer');
});

test('an answer in flight when draining starts goes out with Connection: close, then its connection closes', async (t) => {
  let answer: (() => void) | undefined;
  let started: () => void = () => undefined;
  const answering = new Promise<void>((resolve) => (started = resolve));
  const server = createServer((_req, res) => {
    answer = () => res.writeHead(302, ['Location', 'https://mirror.example/file', 'Content-Length', '0']).end();
    started();
  });
  t.teardown(() => server.close());
  const drainer = trackConnections(server);
  const port = await listen(server);
  const response = requestUntilClosed(port);
  await answering;
  const drained = drainer.drain(10_000, 50);
  answer!();
  const text = await response;
  t.regex(text, /^HTTP\/1\.1 302 /);
  t.regex(text, /\r\nConnection: close\r\n/i);
  t.deepEqual(await drained, { forced: 0 });
});
