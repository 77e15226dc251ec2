// HTTP plumbing shared by the health prober and the availability cache: one request that
// settles by its deadline whatever the server does (`timedRequest`), the fetch-shaped interface
// both are given (so tests inject a fake), and HEAD over kept-alive connections.
//
// Why keep-alive HEAD: Node's fetch (undici) closes the connection after every HEAD (a guard
// against servers that send a body anyway), so each check paid a new TCP and TLS handshake: a
// distinct-object flood ran at ~250 checks/s on loopback, and on a real mirror a handshake is
// tens of milliseconds a client waits for. node:http keeps the connection; a HEAD answer has no
// body by definition there.
import { setMaxListeners } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Clock } from './clock.js';

/** The part of a fetch Response we use; the global `fetch` satisfies FetchLike. */
export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  body?: { cancel(): Promise<void> } | null;
}

export type FetchLike = (url: string, init: { method: 'GET' | 'HEAD'; redirect: 'manual'; signal: AbortSignal; headers?: Record<string, string> }) => Promise<ResponseLike>;

export type RequestResult = { status: number; headers: ResponseLike['headers'] } | { error: string; timedOut: boolean };

/**
 * One request that settles by `timeoutMs` whatever the server does: it aborts the fetch, and also
 * races it, so even a fetch-like that ignores the signal cannot hold the caller. Redirects are not
 * followed (callers decide what a 3xx means). The body is cancelled so the socket is released.
 */
export async function timedRequest(fetchFn: FetchLike, clock: Clock, url: string, method: 'GET' | 'HEAD', timeoutMs: number, signal?: AbortSignal, headers?: Record<string, string>): Promise<RequestResult> {
  if (signal?.aborted) return { error: 'aborted', timedOut: false };
  const controller = new AbortController();
  let timedOut = false;
  let timer: unknown;
  const onOuterAbort = () => controller.abort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  const timeout = new Promise<never>((_, reject) => {
    const fail = () => reject(new Error(timedOut ? `timeout after ${timeoutMs} ms` : 'aborted'));
    timer = clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
      fail();
    }, timeoutMs);
    controller.signal.addEventListener('abort', fail, { once: true });
  });
  try {
    const init = headers ? { method, redirect: 'manual' as const, signal: controller.signal, headers } : { method, redirect: 'manual' as const, signal: controller.signal };
    const response = await Promise.race([fetchFn(url, init), timeout]);
    response.body?.cancel().catch(() => {});
    return { status: response.status, headers: response.headers };
  } catch (error) {
    if (timedOut) return { error: `timeout after ${timeoutMs} ms`, timedOut: true };
    return { error: describeError(error), timedOut: false };
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onOuterAbort);
    timeout.catch(() => {}); // the losing side of the race must not surface as unhandled
    // No abort once an answer came: aborting a finished request made undici build an error
    // with a stack trace and drop the keep-alive connection, so every check opened a new one
    // (a distinct-object flood ran at ~250 checks/s). A timeout or an outer abort has already
    // aborted the request above.
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Node's fetch wraps the interesting part ("ECONNREFUSED ...") in `cause`.
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

/**
 * An AbortController whose signal takes any number of listeners: every probe or check in flight
 * listens on its owner's one (a flood of distinct objects legitimately means thousands).
 */
export function abortControllerForMany(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

// Idle sockets are closed after 30 s; at most 64 per mirror host (as many concurrent checks).
const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 64, maxFreeSockets: 64, timeout: 30_000 };
const httpAgent = new HttpAgent(agentOptions);
const httpsAgent = new HttpsAgent(agentOptions);

/** A FetchLike for HEAD over keep-alive agents; anything else goes to the global fetch. */
export const keepAliveHead: FetchLike = (url, init) => {
  if (init.method !== 'HEAD') return fetch(url, init);
  return new Promise<ResponseLike>((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      reject(error as Error);
      return;
    }
    const secure = target.protocol === 'https:';
    const request = (secure ? httpsRequest : httpRequest)(target, { method: 'HEAD', agent: secure ? httpsAgent : httpAgent, headers: init.headers, signal: init.signal }, (response: IncomingMessage) => {
      response.resume();
      resolve({
        status: response.statusCode ?? 0,
        headers: { get: (name) => headerValue(response.headers[name.toLowerCase()]) },
        body: null,
      });
    });
    request.on('error', reject);
    request.end();
  });
};

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
