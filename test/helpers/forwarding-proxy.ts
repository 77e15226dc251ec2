// A stand-in for the load balancer in front of the redirector: forwards every request and adds
// X-Forwarded-For with a fixed client address, so one machine can play clients from many
// places. The redirector trusts it because it is 127.0.0.1 and the test config says so.
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ForwardingProxy {
  url: string;
  host: string;
  /** Requests forwarded so far. */
  count(): number;
  close(): Promise<void>;
}

export async function startForwardingProxy(target: string, clientIp: string): Promise<ForwardingProxy> {
  const upstream = new URL(target);
  let forwarded = 0;
  const server = createServer((req, res) => {
    forwarded++;
    const outgoing = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': clientIp } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    outgoing.on('error', () => res.writeHead(502).end());
    req.pipe(outgoing);
  });
  return { ...(await listenOnLoopback(server)), count: () => forwarded };
}

/** Starts `server` on a free port of 127.0.0.1: its URL and host, and a close() that drops open connections. */
export async function listenOnLoopback(server: Server): Promise<{ url: string; host: string; close(): Promise<void> }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
