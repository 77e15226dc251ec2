// One JSON line per request, the input of `report`. Written with JSON.stringify straight to
// pino's asynchronous destination (sonic-boom): a plain object per request is all the hot path
// can afford, and the line format stays trivial for any log shipper.
import { pino } from 'pino';

export interface AccessLogEntry {
  time: string;
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
  ua?: string | undefined;
}

export interface AccessLog {
  write(entry: AccessLogEntry): void;
  flush(): void;
}

/** `dest` is '-' for stdout or a file path. */
export function openAccessLog(dest: string): AccessLog {
  const stream = pino.destination({ dest: dest === '-' ? 1 : dest, sync: false, mkdir: true, minLength: 4096 });
  return {
    write: (entry) => void stream.write(`${JSON.stringify(entry)}\n`),
    flush: () => stream.flushSync(),
  };
}
