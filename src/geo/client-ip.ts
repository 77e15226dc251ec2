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
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseIp(hops[i]!);
    // A hop that is not an address cannot be located; the last proxy we trust is the best we know.
    if (!hop) return current;
    current = hop;
    if (!trustedProxies.lookup(hop)) return hop;
  }
  return current;
}
