// IP addresses as numbers, so CIDR matching is bit arithmetic instead of string work on the
// hot path. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports for IPv4
// peers) is folded to IPv4: one client must get one answer whatever socket it arrived on.
import { isIPv4, isIPv6 } from 'node:net';

export type ParsedIp =
  | { version: 4; value: number; text: string }
  /** 128 bits as eight 16-bit groups, most significant first. */
  | { version: 6; groups: Uint16Array; text: string };

export function parseIp(input: string): ParsedIp | undefined {
  // Most addresses are plain dotted quads: parse those in one pass, without regexes.
  const quad = parseDottedQuad(input);
  if (quad !== undefined) return { version: 4, value: quad, text: input };
  let text = input.trim();
  // Some proxies write the client's port too: "1.2.3.4:5678", "[2001:db8::1]:5678".
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text) ?? /^\[([^\]]+)\]:\d{1,5}$/.exec(text);
  if (withPort) text = withPort[1]!;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (isIPv4(text)) return { version: 4, value: ipv4ToNumber(text), text };
  if (!isIPv6(text)) return undefined;
  const groups = ipv6ToGroups(text);
  if (isV4Mapped(groups)) {
    const value = ((groups[6]! << 16) | groups[7]!) >>> 0;
    return { version: 4, value, text: numberToIpv4(value) };
  }
  return { version: 6, groups, text: text.toLowerCase() };
}

/** A strict dotted quad (no leading zeros, no spaces) as a number, or undefined. */
function parseDottedQuad(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value * 256 + part) >>> 0;
}

function ipv4ToNumber(text: string): number {
  let value = 0;
  for (const part of text.split('.')) value = value * 256 + Number(part);
  return value >>> 0;
}

/**
 * Bit `index` of an IPv4 address's 32, counted from the most significant (0) as in a CIDR
 * prefix: what the CIDR trie and the .mmdb tree walk, one bit per step.
 */
export function ipv4Bit(value: number, index: number): number {
  return (value >>> (31 - index)) & 1;
}

/** Bit `index` of an IPv6 address's 128 (its eight 16-bit groups), counted as ipv4Bit's. */
export function ipv6Bit(groups: Uint16Array, index: number): number {
  return (groups[index >>> 4]! >>> (15 - (index & 15))) & 1;
}

function numberToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

function ipv6ToGroups(text: string): Uint16Array {
  const groups = new Uint16Array(8);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap !== -1) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = ipv4ToNumber(piece);
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const front = parse(head);
  const back = parse(tail);
  front.forEach((g, i) => {
    groups[i] = g;
  });
  back.forEach((g, i) => {
    groups[8 - back.length + i] = g;
  });
  return groups;
}

function isV4Mapped(groups: Uint16Array): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}
