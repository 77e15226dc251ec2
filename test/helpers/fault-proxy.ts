// A fault-injecting HTTP proxy for tests of interrupted downloads: placed in front of a bucket
// (nginx, s3rver), it forwards every request untouched and records it (method, path, Range,
// status), except that once armed with `cutFirstGet(path, bytes)` it cuts the next GET of that
// path after `bytes` of body: the response head (200 and the full Content-Length) and those
// bytes go out, then the connection is destroyed, as when a CDN edge or a NAT drops a download
// mid-way. The client sees an unexpected EOF; what it does next is in the log.
import { createServer, request } from 'node:http';
import { listenOnLoopback } from './forwarding-proxy.js';

export interface ProxiedRequest {
  method: string;
  /** As requested, with its query string (percent-encoding kept). */
  path: string;
  /** The request's Range header, when it sent one. */
  range?: string;
  /** The upstream's status (502 when it could not be reached). */
  status: number;
  /** Body bytes passed to the client. */
  bytes: number;
  /** True for the GET this proxy cut short. */
  cut: boolean;
}

export interface FaultProxy {
  url: string;
  /** Cuts the next GET of `path` (exactly as requested) after `afterBytes` of its body. */
  cutFirstGet(path: string, afterBytes: number): void;
  /** Every request answered or cut so far, in the order they finished. */
  requests(): ProxiedRequest[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const log: ProxiedRequest[] = [];
  const armed = new Map<string, number>();
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: ProxiedRequest = { method, path, status: 502, bytes: 0, cut: false, ...(req.headers.range ? { range: req.headers.range } : {}) };
    const cutAfter = method === 'GET' ? armed.get(path) : undefined;
    if (cutAfter !== undefined) armed.delete(path);
    const outgoing = request({ host: upstream.hostname, port: upstream.port, method, path, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      entry.status = answer.statusCode ?? 502;
      res.writeHead(entry.status, answer.headers);
      if (cutAfter === undefined) {
        answer.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
        answer.pipe(res);
        res.on('close', () => log.push(entry));
        return;
      }
      answer.on('data', (chunk: Buffer) => {
        if (entry.cut) return;
        const part = chunk.subarray(0, cutAfter - entry.bytes);
        entry.bytes += part.length;
        if (entry.bytes < cutAfter) {
          if (!res.write(part)) {
            answer.pause();
            res.once('drain', () => answer.resume());
          }
          return;
        }
        // The limit is reached: flush what it allows, then drop the connection mid-body.
        entry.cut = true;
        answer.destroy();
        res.write(part, () => {
          log.push(entry);
          res.socket?.destroy();
        });
      });
      answer.on('end', () => {
        // The body was shorter than the cut: passed whole.
        if (!entry.cut) res.end(() => log.push(entry));
      });
    });
    outgoing.on('error', () => {
      if (entry.cut) return;
      log.push(entry);
      if (!res.headersSent) res.writeHead(502).end();
      else res.socket?.destroy();
    });
    req.pipe(outgoing);
  });
  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    close,
    cutFirstGet: (path, afterBytes) => void armed.set(path, afterBytes),
    requests: () => [...log],
  };
}
