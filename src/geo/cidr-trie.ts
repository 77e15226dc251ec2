// Longest-prefix match over IPv4 and IPv6 CIDRs. registry.k8s.io takes the first matching
// range, which for nested cloud ranges can be the wide, wrong one; a trie answers with the most
// specific range in at most 32 (or 128) steps, independent of how many ranges are loaded.
import { ipv4Bit, ipv6Bit, parseIp, type ParsedIp } from './ip.js';

export interface CidrMatch<T> {
  readonly value: T;
  readonly prefixLength: number;
}

/**
 * A class with every field set in its constructor, so all nodes share one hidden class and the
 * walk's property reads stay monomorphic (object literals grown field by field in varying orders
 * made them polymorphic). A range's answer is built once, on insert: a lookup allocates nothing.
 */
class TrieNode<T> {
  zero: TrieNode<T> | undefined = undefined;
  one: TrieNode<T> | undefined = undefined;
  match: CidrMatch<T> | undefined = undefined;
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
  return ip.version === 4 ? ipv4Bit(ip.value, index) : ipv6Bit(ip.groups, index);
}

export class CidrTrie<T> {
  private readonly v4 = new TrieNode<T>();
  private readonly v6 = new TrieNode<T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Every value held, in no particular order. */
  values(): T[] {
    const out: T[] = [];
    const walk = (node: TrieNode<T> | undefined): void => {
      if (!node) return;
      if (node.match) out.push(node.match.value);
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
      if (bitAt(parsed.ip, i)) node = node.one ??= new TrieNode<T>();
      else node = node.zero ??= new TrieNode<T>();
    }
    if (!node.match) {
      node.match = { value, prefixLength: parsed.prefixLength };
      this.count++;
    }
    return true;
  }

  /** The value of the most specific range holding `ip`. */
  lookup(ip: ParsedIp | string): CidrMatch<T> | undefined {
    const parsed = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!parsed) return undefined;
    return parsed.version === 4 ? this.lookupV4(parsed.value) : this.lookupV6(parsed.groups);
  }

  /** An IPv4 address as its 32-bit number: one shift and mask per step. */
  private lookupV4(value: number): CidrMatch<T> | undefined {
    let node: TrieNode<T> | undefined = this.v4;
    let best: CidrMatch<T> | undefined;
    for (let i = 0; node; i++) {
      if (node.match) best = node.match;
      if (i === 32) break;
      node = ipv4Bit(value, i) ? node.one : node.zero;
    }
    return best;
  }

  private lookupV6(groups: Uint16Array): CidrMatch<T> | undefined {
    let node: TrieNode<T> | undefined = this.v6;
    let best: CidrMatch<T> | undefined;
    for (let i = 0; node; i++) {
      if (node.match) best = node.match;
      if (i === 128) break;
      node = ipv6Bit(groups, i) ? node.one : node.zero;
    }
    return best;
  }
}
