// Which address is the client? Only a proxy we trust may tell us (X-Forwarded-For); anyone
// else could claim any country. Walk the header from the right, the hop nearest to us, and
// stop at the first address that is not one of our proxies: everything left of it was written
// by the client and may be spoofed.
import type { CidrTrie } from './cidr-trie.js';
import { parseIp, type ParsedIp } from './ip.js';

export function resolveClientIp(peer: string, forwardedFor: string | undefined, trustedProxies: CidrTrie<true>): ParsedIp | undefined {
  let current = parseIp(peer);
  if (!current || !forwardedFor || trustedProxies.size === 0) return current;
  if (!trustedProxies.lookup(current)) return current;
  // Hop by hop from the right, by index: no array of hops, and a hop's spaces (", " between
  // hops) are cut off before parsing, so it takes parseIp's one-pass path for a dotted quad.
  let end = forwardedFor.length;
  while (end >= 0) {
    const comma = forwardedFor.lastIndexOf(',', end - 1);
    const hop = parseIp(hopText(forwardedFor, comma + 1, end));
    // A hop that is not an address cannot be located; the last proxy we trust is the best we know.
    if (!hop) return current;
    current = hop;
    if (!trustedProxies.lookup(hop)) return hop;
    end = comma;
  }
  return current;
}

/** The header's text from `start` to `end` without spaces or tabs around it: the header itself when it is one bare hop. */
function hopText(header: string, start: number, end: number): string {
  while (start < end && isBlank(header.charCodeAt(start))) start++;
  while (end > start && isBlank(header.charCodeAt(end - 1))) end--;
  return start === 0 && end === header.length ? header : header.slice(start, end);
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}
