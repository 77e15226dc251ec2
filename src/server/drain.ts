// Graceful shutdown for the HTTP server. Node's server.close() stops accepting and at once
// destroys every keep-alive connection that is between requests; a request the client had
// already written on one (still in the socket buffer) was reset. Draining instead:
//   1. stops accepting (the listening socket only),
//   2. answers every request in flight and every request that arrives on an open connection,
//      each with `Connection: close`, so the client opens its next connection elsewhere,
//   3. closes a connection that has had no request for `idleGraceMs` since draining began
//      (HTTP/1.1 has no way to tell an idle client "go away" first),
//   4. and gives up on whatever is left after `timeoutMs`.
// (A client pipelining several requests gets the first answered; HTTP/1.1 clients that pipeline
// must retry the rest, and none of the registry clients do.)
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

export interface DrainResult {
  /** Connections still open at the deadline, destroyed. */
  forced: number;
}

export interface Drainer {
  readonly draining: boolean;
  /** Stops accepting and resolves once every connection has closed, or after timeoutMs. */
  drain(timeoutMs: number, idleGraceMs?: number): Promise<DrainResult>;
}

export function trackConnections(server: Server): Drainer {
  // Nothing is done per request until draining begins: a listener and a `close` hook on every
  // answer cost the redirect path several microseconds (a tenth of a redirect's CPU). Whether a
  // connection is answering a request is Node's own record: the response it is writing
  // (`_httpMessage`, set from the request until the answer is finished).
  const active = new Set<Socket>();
  let draining = false;
  let idleGraceMs = 1000;
  let onEmpty: (() => void) | undefined;
  const busy = (socket: Socket) => (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;

  const closeIfIdleLater = (socket: Socket) => {
    setTimeout(() => {
      if (!busy(socket)) socket.destroy();
    }, idleGraceMs).unref();
  };

  // Over TLS, requests arrive on the TLS socket, which 'secureConnection' gives.
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', (socket: Socket) => {
    active.add(socket);
    if (draining) closeIfIdleLater(socket);
    socket.once('close', () => {
      active.delete(socket);
      if (active.size === 0) onEmpty?.();
    });
  });
  /** Once draining: every answer not yet started says `Connection: close` (Node then closes the socket after it). */
  const closeAfterAnswer = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };

  return {
    get draining() {
      return draining;
    },
    drain(timeoutMs, grace = idleGraceMs) {
      idleGraceMs = grace;
      if (!draining) {
        // Before the app's own listener: the redirect path writes its headers synchronously.
        server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => closeAfterAnswer(res));
      }
      draining = true;
      // net.Server's close: stop listening without http.Server's closeIdleConnections().
      if (server.listening) NetServer.prototype.close.call(server);
      for (const socket of active) {
        const answering = busy(socket);
        if (!answering) {
          closeIfIdleLater(socket);
          continue;
        }
        // An answer that started before draining did: its connection closes once it is sent.
        closeAfterAnswer(answering);
        answering.once('close', () => closeIfIdleLater(socket));
      }
      return new Promise<DrainResult>((resolve) => {
        if (active.size === 0) return resolve({ forced: 0 });
        const timer = setTimeout(() => {
          const forced = active.size;
          onEmpty = undefined;
          for (const socket of active.keys()) socket.destroy();
          resolve({ forced });
        }, timeoutMs);
        onEmpty = () => {
          clearTimeout(timer);
          onEmpty = undefined;
          resolve({ forced: 0 });
        };
      });
    },
  };
}
