// A reverse proxy on 127.0.0.1 that answers the first requests with injected failures (500, 429)
// before passing traffic through: a destination that misbehaves "for a while".
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultProxy {
  host: string;
  url: string;
  /** How many requests were answered with an injected failure. */
  injected(): number;
  /** Requests passed through to the target. */
  passed(): number;
  stop(): Promise<void>;
}

/**
 * `faults` is consumed in order, one entry per request that `matches`: a status to answer with.
 * Requests that do not match, and all after the list is used up, go to `target`. As a function,
 * it decides per request: a status to inject, or undefined to pass it through.
 */
export async function startFaultProxy(target: string, faults: number[] | ((req: IncomingMessage) => number | undefined), matches: (req: IncomingMessage) => boolean = () => true): Promise<FaultProxy> {
  const queue = typeof faults === 'function' ? [] : [...faults];
  const decide = typeof faults === 'function' ? faults : () => queue.shift();
  let injected = 0;
  let passed = 0;
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const status = matches(req) ? decide(req) : undefined;
    if (status !== undefined) {
      injected++;
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '0' } : {}) });
      res.end(JSON.stringify({ errors: [{ code: status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: 'injected' }] }));
      return;
    }
    passed++;
    const headers = { ...req.headers, host: upstream.host };
    const out = request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      // Locations pointing at the target must come back through the proxy.
      const h = { ...up.headers };
      if (typeof h.location === 'string') h.location = h.location.replace(upstream.origin, `http://${req.headers.host}`);
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    injected: () => injected,
    passed: () => passed,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
