// One JSON line per request, the input of `report`. Written with JSON.stringify straight to
// pino's asynchronous destination (sonic-boom): a plain object per request is all the hot path
// can afford, and the line format stays trivial for any log shipper.
import { pino } from 'pino';
import type { AuditLogEntry } from '../trust/audit-log.js';

export interface AccessLogEntry {
  /** Milliseconds since the epoch (as pino writes it): cheaper than a formatted date per request. */
  time: number;
  method: string;
  path: string;
  status: number;
  ip: string;
  country?: string | undefined;
  continent?: string | undefined;
  cloud?: string | undefined;
  mirror?: string | undefined;
  region?: string | undefined;
  /** Time to decide and answer, in milliseconds. */
  ms: number;
  /** Size of the object sent to the mirror, when known (from availability checks): egress. */
  bytes?: number | undefined;
  ua?: string | undefined;
}

export interface AccessLog {
  write(entry: AccessLogEntry): void;
  /** The background audit's line per mirror (src/trust/audit-log.ts), in the same stream. */
  audit?(entry: AuditLogEntry): void;
  flush(): void;
}

const BATCH_BYTES = 64 * 1024;

/**
 * `dest` is '-' for stdout, a file path, or a function taking each batch (a worker of `serve
 * --workers` sends stdout's to its primary, so lines of several processes never interleave in the
 * pipe; a file is opened for appending, and each batch is one write). Lines are batched per
 * event-loop turn (or per 64 KiB) and handed over in one write: one write per request cost a
 * third of the throughput.
 */
export function openAccessLog(dest: string | ((batch: string) => void)): AccessLog {
  const stream = typeof dest === 'function' ? undefined : pino.destination({ dest: dest === '-' ? 1 : dest, sync: false, mkdir: true });
  const out = stream ? (text: string) => stream.write(text) : (dest as (batch: string) => void);
  let batch = '';
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    if (batch === '') return;
    out(batch);
    batch = '';
  };
  const write = (entry: AccessLogEntry | AuditLogEntry) => {
    batch += `${JSON.stringify(entry)}\n`;
    if (batch.length >= BATCH_BYTES) drain();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  return {
    write,
    audit: write,
    flush() {
      drain();
      stream?.flushSync();
    },
  };
}
