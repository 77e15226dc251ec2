// fetch with the two timeouts every promoter network call needs, and a response body that lives
// as long as its reader:
// - `responseMs`: no response headers within this long after the request body was last
//   sent (or the connection opened): the request fails with a clear TimeoutError. An endpoint
//   that accepts connections and never answers fails that location instead of hanging the run.
// - `idleMs`: while reading a response body, no bytes for this long: the body errors the same way.
// The body handed out is our own stream that took a reader on the fetch body at once and holds
// the Response: undici cancels the body of a Response that was garbage-collected while its body
// was unlocked ("Response body object should not be disturbed or locked" when a blob stream
// handed from a staging GET to a destination upload lost its Response).
import type { Readable } from 'node:stream';

export interface Timeouts {
  /** Response headers must arrive within this long after the last request byte went out. */
  responseMs: number;
  /** A response body may stall at most this long between chunks. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { responseMs: 60_000, idleMs: 60_000 };

class TimeoutError extends Error {
  readonly code = 'TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

type Body = Buffer | Uint8Array | ReadableStream<Uint8Array> | Readable | string;

const BIG = 1 << 20;

async function* chunksOf(body: Exclude<Body, string>): AsyncGenerator<Uint8Array> {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    for (let i = 0; i < body.length; i += BIG) yield body.subarray(i, i + BIG);
    return;
  }
  for await (const chunk of body as AsyncIterable<Uint8Array>) yield chunk;
}

/** The request body as a stream that reports each chunk it hands to fetch (upload progress). */
function tracked(body: Body, progress: () => void): Body {
  if (typeof body === 'string' || ((Buffer.isBuffer(body) || body instanceof Uint8Array) && body.length <= BIG)) return body;
  const it = chunksOf(body);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      progress();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await it.return(reason);
    },
  });
}

/**
 * fetch(url, init) with `timeouts`; `what` names the call in errors (e.g. "GET https://…").
 * Responses with a body come back as a new Response over a held, idle-timed stream.
 */
export async function fetchWithTimeouts(fetchFn: typeof fetch, url: string | URL, init: RequestInit, timeouts: Timeouts, what: string): Promise<Response> {
  const abort = new AbortController();
  const outer = init.signal;
  const onOuter = () => abort.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number, message: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(new TimeoutError(message)), ms);
  };
  const waiting = () => arm(timeouts.responseMs, `${what}: no response within ${timeouts.responseMs / 1000}s (the endpoint accepted the request but does not answer)`);
  waiting();
  let res: Response;
  try {
    const body = init.body === undefined || init.body === null ? init.body : tracked(init.body as Body, waiting);
    res = await fetchFn(url, { ...init, ...(body !== undefined ? { body: body as BodyInit } : {}), signal: abort.signal });
  } catch (e) {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
    throw abort.signal.aborted && abort.signal.reason instanceof TimeoutError ? abort.signal.reason : e;
  }
  clearTimeout(timer);
  if (!res.body || [101, 204, 205, 304].includes(res.status)) {
    outer?.removeEventListener('abort', onOuter);
    return res;
  }
  const held = res;
  const reader = res.body.getReader();
  const idle = `${what}: response body stalled for ${timeouts.idleMs / 1000}s`;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      arm(timeouts.idleMs, idle);
      try {
        const { done, value } = await reader.read();
        clearTimeout(timer);
        if (done) {
          outer?.removeEventListener('abort', onOuter);
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuter);
        controller.error(abort.signal.reason instanceof TimeoutError ? abort.signal.reason : e);
      }
    },
    async cancel(reason) {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
      void held; // the Response stays reachable for as long as this stream is
      await reader.cancel(reason);
    },
  });
  const wrapped = new Response(stream, { status: held.status, statusText: held.statusText, headers: held.headers });
  Object.defineProperty(wrapped, 'url', { value: held.url });
  // Keep the original reachable from the wrapper too (a reader alone keeps the stream, not it).
  Object.defineProperty(wrapped, 'original', { value: held });
  return wrapped;
}
