// Longest-prefix match over IPv4 and IPv6 CIDRs. registry.k8s.io takes the first matching
// range, which for nested cloud ranges can be the wide, wrong one; a trie answers with the most
// specific range in at most 32 (or 128) steps, independent of how many ranges are loaded.
import { parseIp, type ParsedIp } from './ip.js';

interface TrieNode<T> {
  zero?: TrieNode<T>;
  one?: TrieNode<T>;
  value?: T;
  prefixLength?: number;
}

export interface CidrMatch<T> {
  value: T;
  prefixLength: number;
}

export interface ParsedCidr {
  ip: ParsedIp;
  prefixLength: number;
}

export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const isMappedV4 = ip.version === 4 && text.includes(':');
  const max = ip.version === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const lengthText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText)) return undefined;
    prefixLength = Number(lengthText);
    // `::ffff:10.0.0.0/104` is the IPv4 /8 written in IPv6 form.
    if (isMappedV4) prefixLength -= 96;
    if (prefixLength < 0 || prefixLength > max) return undefined;
  }
  return { ip, prefixLength };
}

function bitAt(ip: ParsedIp, index: number): number {
  if (ip.version === 4) return (ip.value >>> (31 - index)) & 1;
  return (ip.groups[index >>> 4]! >>> (15 - (index & 15))) & 1;
}

export class CidrTrie<T> {
  private readonly v4: TrieNode<T> = {};
  private readonly v6: TrieNode<T> = {};
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Every value held, in no particular order. */
  values(): T[] {
    const out: T[] = [];
    const walk = (node: TrieNode<T> | undefined): void => {
      if (!node) return;
      if (node.prefixLength !== undefined) out.push(node.value as T);
      walk(node.zero);
      walk(node.one);
    };
    walk(this.v4);
    walk(this.v6);
    return out;
  }

  /** Inserts a range; a range inserted twice keeps its first value (first declaration wins). */
  insert(cidr: string | ParsedCidr, value: T): boolean {
    const parsed = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (!parsed) return false;
    let node = parsed.ip.version === 4 ? this.v4 : this.v6;
    for (let i = 0; i < parsed.prefixLength; i++) {
      const key = bitAt(parsed.ip, i) ? 'one' : 'zero';
      node = node[key] ??= {};
    }
    if (node.prefixLength === undefined) {
      node.value = value;
      node.prefixLength = parsed.prefixLength;
      this.count++;
    }
    return true;
  }

  /** The value of the most specific range holding `ip`. */
  lookup(ip: ParsedIp | string): CidrMatch<T> | undefined {
    const parsed = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!parsed) return undefined;
    let node: TrieNode<T> | undefined = parsed.version === 4 ? this.v4 : this.v6;
    const bits = parsed.version === 4 ? 32 : 128;
    let best: TrieNode<T> | undefined;
    for (let i = 0; node; i++) {
      if (node.prefixLength !== undefined) best = node;
      if (i === bits) break;
      node = bitAt(parsed, i) ? node.one : node.zero;
    }
    return best ? { value: best.value as T, prefixLength: best.prefixLength! } : undefined;
  }
}
