// readRedirectHeaders reads the redirect path's four headers from rawHeaders: it must agree with
// what Node's req.headers says for them, duplicates and letter case included (X-Forwarded-For
// decides where a client is: two of them must not be read differently from Node).
import test from 'ava';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { readRedirectHeaders } from '../../src/server/request-headers.js';

/** Sends a raw request and hands back what Node parsed. */
async function parsed(headerLines: string[]): Promise<IncomingMessage> {
  const server = createServer((req, res) => {
    res.end();
    server.emit('parsed', req);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.write(`GET /bin/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n`);
  const [req] = (await once(server, 'parsed')) as [IncomingMessage];
  socket.destroy();
  server.close();
  return req;
}

const CASES: string[][] = [
  [],
  ['X-Forwarded-For: 81.2.69.160'],
  ['x-forwarded-for: 192.0.2.1', 'X-FORWARDED-FOR: 81.2.69.160'],
  ['User-Agent: containerd/1.7', 'user-agent: second'],
  ['Accept: application/json', 'accept: text/html'],
  ['X-Artifact-Debug: 1'],
  ['X-Artifact-Debug: 1', 'x-artifact-debug: 0'],
  ['X-Artifact-Debug: yes'],
  ['Range: bytes=0-99', 'range: bytes=5-9'],
  ['X-Forwarded-Fox: 1.2.3.4', 'X-Forwarded-For:   ', 'Accept-Encoding: gzip', 'User-Agents: no'],
];

for (const lines of CASES) {
  test(`agrees with req.headers: ${lines.join(' | ') || 'none'}`, async (t) => {
    const req = await parsed(lines);
    const read = readRedirectHeaders(req.rawHeaders);
    t.is(read.forwardedFor, req.headers['x-forwarded-for'] as string | undefined);
    t.is(read.userAgent, req.headers['user-agent']);
    t.is(read.accept, req.headers.accept);
    t.is(read.range, req.headers.range);
    t.is(read.debug, req.headers['x-artifact-debug'] === '1');
  });
}
