// One JSON line per request, the input of `report`, written to pino's asynchronous destination
// (sonic-boom). The line is built field by field (accessLogLines): JSON.stringify of the entry
// object was a tenth of the redirect path's CPU, five times what the fixed-shape line costs.
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
/** How long a line may wait for others to share its write: short enough for `tail -f`. */
const BATCH_MS = 10;

/** Strings that need no escaping in JSON: no quote, backslash, control character or surrogate. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** A JSON string literal: the common case by hand, anything unusual by JSON.stringify. */
function quoted(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

/**
 * Pre-built `,"name":"value"` pieces for a field whose values come from a small set: method,
 * country, continent, cloud region, mirror and region names (from the config and the GeoIP
 * data, never from a client). Looking one up costs less than testing and quoting the value per
 * line: the line took 1.1 µs of CPU, 0.7 µs with these (in-process, 2,000 clients). Bounded,
 * so a value set larger than expected only stops being memoised.
 */
function fieldPieces(name: string): (value: string) => string {
  const pieces = new Map<string, string>();
  return (value) => {
    let piece = pieces.get(value);
    if (piece === undefined) {
      piece = `,"${name}":${quoted(value)}`;
      if (pieces.size < MAX_PIECES) pieces.set(value, piece);
    }
    return piece;
  };
}
const MAX_PIECES = 4096;

/**
 * A line builder with its own field pieces: the entry as one JSON object, exactly what
 * JSON.stringify(entry) gives (same keys, same order, undefined fields left out;
 * test/server/access-log.test.ts compares the two) at a fraction of the cost. Each access log
 * owns one, so the pieces live and go with it (no module-level state).
 */
export function accessLogLines(): (e: AccessLogEntry) => string {
  const methodPiece = fieldPieces('method');
  const countryPiece = fieldPieces('country');
  const continentPiece = fieldPieces('continent');
  const cloudPiece = fieldPieces('cloud');
  const mirrorPiece = fieldPieces('mirror');
  const regionPiece = fieldPieces('region');
  return (e) => {
    let line = `{"time":${e.time}${methodPiece(e.method)},"path":${quoted(e.path)},"status":${e.status},"ip":${quoted(e.ip)}`;
    if (e.country !== undefined) line += countryPiece(e.country);
    if (e.continent !== undefined) line += continentPiece(e.continent);
    if (e.cloud !== undefined) line += cloudPiece(e.cloud);
    if (e.mirror !== undefined) line += mirrorPiece(e.mirror);
    if (e.region !== undefined) line += regionPiece(e.region);
    line += `,"ms":${e.ms}`;
    if (e.bytes !== undefined) line += `,"bytes":${e.bytes}`;
    if (e.ua !== undefined) line += `,"ua":${quoted(e.ua)}`;
    return `${line}}`;
  };
}

/**
 * `dest` is '-' for stdout, a file path, or a function taking each batch (a worker of `serve
 * --workers` sends stdout's to its primary, so lines of several processes never interleave in the
 * pipe; a file is opened for appending, and each batch is one write). Lines are batched for
 * BATCH_MS (or up to 64 KiB) and handed over in one write: one write per request cost a third of
 * the throughput, and one per event-loop turn still showed in a profile under load (a turn
 * answers only a few requests). flush() writes what is pending, at shutdown.
 *
 * The batch is a string (appending is cheap), encoded once when it is handed over, and sonic-boom
 * gets that Buffer (its `buffer` content mode): given strings, it measured the UTF-8 length of
 * each one and of its pending text again before encoding it to write. Measured in-process
 * (lines in bursts of 50 per event-loop turn, to /dev/null and to a file, whole-process CPU,
 * three interleaved runs): 0.2-0.4 of 2-3 µs per line saved, most of the rest being the line
 * itself; encoding each line into a reused buffer instead cost more (a native call per line).
 */
export function openAccessLog(dest: string | ((batch: string) => void)): AccessLog {
  const stream = typeof dest === 'function' ? undefined : pino.destination({ dest: dest === '-' ? 1 : dest, sync: false, mkdir: true, contentMode: 'buffer' });
  // A Buffer, though typed as a string: the stream is in buffer mode.
  const out = stream ? (text: string) => stream.write(Buffer.from(text) as unknown as string) : (dest as (batch: string) => void);
  const line = accessLogLines();
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  const drain = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    out(batch);
    batch = '';
  };
  const append = (line: string) => {
    batch += `${line}\n`;
    if (batch.length >= BATCH_BYTES) drain();
    // Unref'd: a pending batch does not keep a stopping process alive; shutdown calls flush().
    else timer ??= setTimeout(drain, BATCH_MS).unref();
  };
  return {
    write(entry) {
      append(line(entry));
    },
    // Rare (one line per mirror per audit pass): JSON.stringify is fine here.
    audit(entry) {
      append(JSON.stringify(entry));
    },
    flush() {
      drain();
      stream?.flushSync();
    },
  };
}
