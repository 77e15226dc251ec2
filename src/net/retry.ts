// Retries with exponential backoff and jitter for transient failures (HTTP 429 and 5xx, dropped
// connections). A server's Retry-After is honoured, capped, so a throttling mirror slows us down
// instead of failing the run.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../util/error-message.js';

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Called before each wait; for logs and tests. */
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseMs: 200, maxMs: 10_000 };

/** An error that knows whether trying again can help, and how long the server asked us to wait. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  const e = error as { code?: string; cause?: { code?: string }; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; name?: string };
  if (e?.code && TRANSIENT_CODES.has(e.code)) return true;
  if (e?.cause?.code && TRANSIENT_CODES.has(e.cause.code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  if (e?.name === 'TypeError' && errorMessage(error).includes('fetch failed')) return true;
  return false;
}

export function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Retry-After as milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= opts.attempts || !isTransient(error)) throw error;
      const backoff = Math.min(opts.maxMs, opts.baseMs * 2 ** (attempt - 1));
      const asked = error instanceof TransientError ? error.retryAfterMs : undefined;
      const wait = Math.min(opts.maxMs, asked ?? backoff / 2 + Math.random() * (backoff / 2));
      opts.onRetry?.(error, attempt, wait);
      await sleep(wait);
    }
  }
}
