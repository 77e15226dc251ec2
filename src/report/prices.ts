// Per-mirror egress prices from a small YAML file (`mirror-name: 0.09`, USD per GB, plus an
// optional `default:` for mirrors not listed), and the cost of some bytes at those prices.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { errorMessage } from '../util/error-message.js';

export interface Prices {
  perMirror: Record<string, number>;
  default: number | undefined;
}

/** Cloud providers bill egress per GiB (2^30 bytes), though their price lists say "GB". */
export const BYTES_PER_GB = 2 ** 30;

export type PricesResult = { ok: true; prices: Prices } | { ok: false; problem: string };

export function loadPrices(file: string): PricesResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, problem: `cannot read price file ${file}: ${errorMessage(e)}` };
  }
  return parsePrices(text, file);
}

export function parsePrices(text: string, file = 'prices'): PricesResult {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return { ok: false, problem: `${file}: not YAML: ${errorMessage(e)}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, problem: `${file}: expected a map of mirror name to USD per GB` };
  const prices: Prices = { perMirror: {}, default: undefined };
  for (const [name, value] of Object.entries(doc)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return { ok: false, problem: `${file}: price of "${name}" must be a number >= 0 (USD per GB), got ${JSON.stringify(value)}` };
    if (name === 'default') prices.default = value;
    else prices.perMirror[name] = value;
  }
  return { ok: true, prices };
}

/** USD per GB for a mirror, or undefined when neither it nor `default` has a price. */
export function priceOf(prices: Prices, mirror: string): number | undefined {
  return Object.hasOwn(prices.perMirror, mirror) ? prices.perMirror[mirror] : prices.default;
}

export function costOf(bytes: number, pricePerGB: number): number {
  return (bytes / BYTES_PER_GB) * pricePerGB;
}
