// The HTTP server's limits, and its answers to requests Node's parser rejects before any
// handler runs. Node's defaults (60 s for a request head, 300 s per request, no connection cap)
// let 5,000 slowloris connections be held 80-99 s; a public endpoint cannot afford that.
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { ociErrorBody } from './oci-error.js';

export interface ServerLimits {
  /**
   * The longest a client may take to send its request head. Every client of this service sends
   * a GET or HEAD of well under 16 KiB, in one or two packets: 10 s covers a slow mobile link's
   * retransmissions, and a slowloris connection trickling bytes is dropped after it (Node's
   * 60 s default held them 80-99 s).
   */
  headersTimeoutMs: number;
  /** The whole request, body included: no endpoint reads a body, so a little over the head's. */
  requestTimeoutMs: number;
  /**
   * How often Node checks the two timeouts above; its default of 30 s would add up to 30 s to
   * each. A 1 s sweep over the open connections is cheap.
   */
  connectionsCheckingIntervalMs: number;
  /**
   * An idle keep-alive connection is closed after this. A pull is a burst (manifest, config,
   * layers) with gaps of a few seconds while the client downloads from the mirror; 15 s keeps
   * a pull on one connection while an idle client does not hold a socket and a connection
   * slot for long. Behind a load balancer that reuses connections, it must be longer than the
   * balancer's own idle timeout, or the balancer may send a request on a socket being closed.
   */
  keepAliveTimeoutMs: number;
  /**
   * Open connections at most, beyond which new ones are closed at once. An idle connection
   * costs a few KiB of heap plus kernel buffers; 10,000 keeps a connection flood inside the
   * pod's memory limit, and is far above what one process serves at full speed (~50
   * keep-alive connections saturate its core). A load balancer moves refused connections to
   * other replicas.
   */
  maxConnections: number;
  /**
   * Requests per keep-alive connection, after which the answer carries `Connection: close`:
   * a client (or a proxy) holding one connection for hours otherwise never moves to a replica
   * added by a scale-up. 1,000 requests is many pulls' worth.
   */
  maxRequestsPerSocket: number;
  /**
   * The largest request head. Registry clients send bearer tokens of a few KiB; 16 KiB (Node's
   * default, stated here so it is a decision) leaves room and refuses header floods with 431.
   */
  maxHeaderSize: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  connectionsCheckingIntervalMs: 1000,
  keepAliveTimeoutMs: 15_000,
  maxConnections: 10_000,
  maxRequestsPerSocket: 1000,
  maxHeaderSize: 16 * 1024,
};

/** Options for http.createServer (those that only exist as options). */
export function serverOptions(limits: ServerLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderSize,
  };
}

/** The limits that are properties of the server, and the answer to parser-level rejections. */
export function applyLimits(server: Server, limits: ServerLimits): void {
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.on('clientError', answerClientError);
}

/**
 * Node's own answer to a request it cannot parse (a bad request line, a header too large, a
 * head that took too long) is a bare status line. Registry clients print the OCI error body's
 * message, so the same answer is given in that shape, on /v2/ paths with the API version header.
 */
function answerClientError(error: Error & { code?: string; rawPacket?: Buffer }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    // The client is gone, or an answer is already being written on this connection.
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'HPE_HEADERS_TIMEOUT'
        ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request was not received in time']
        : [400, 'Bad Request', 'BAD_REQUEST', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify(ociErrorBody(code, message));
  const path = /^[A-Z]+ (\/[^ ?]*)/.exec(error.rawPacket?.toString('latin1', 0, 256) ?? '')?.[1] ?? '';
  const oci = path === '/v2' || path.startsWith('/v2/');
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${oci ? 'Docker-Distribution-Api-Version: registry/2.0\r\n' : ''}Connection: close\r\n\r\n${body}`,
  );
  // A client that does not read its answer does not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}
