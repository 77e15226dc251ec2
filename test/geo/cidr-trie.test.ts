import test from 'ava';
import { CidrTrie, parseCidr } from '../../src/geo/cidr-trie.js';

test('longest prefix wins over a wider range declared first', (t) => {
  const trie = new CidrTrie<string>();
  trie.insert('10.0.0.0/8', 'wide');
  trie.insert('10.1.0.0/16', 'narrow');
  trie.insert('10.1.2.3/32', 'host');
  t.is(trie.lookup('10.9.9.9')?.value, 'wide');
  t.is(trie.lookup('10.1.9.9')?.value, 'narrow');
  t.is(trie.lookup('10.1.2.3')?.value, 'host');
  t.is(trie.lookup('10.1.2.3')?.prefixLength, 32);
  t.is(trie.lookup('11.0.0.1'), undefined);
});

test('IPv6 and IPv4 live apart; mapped addresses match IPv4 ranges', (t) => {
  const trie = new CidrTrie<string>();
  trie.insert('2001:db8::/32', 'doc6');
  trie.insert('192.0.2.0/24', 'doc4');
  t.is(trie.lookup('2001:db8:1::5')?.value, 'doc6');
  t.is(trie.lookup('2001:db9::5'), undefined);
  t.is(trie.lookup('::ffff:192.0.2.7')?.value, 'doc4');
});

test('a /0 matches everything of its family', (t) => {
  const trie = new CidrTrie<string>();
  trie.insert('0.0.0.0/0', 'all4');
  t.is(trie.lookup('203.0.113.1')?.value, 'all4');
  t.is(trie.lookup('2001:db8::1'), undefined);
});

test('first declaration of the same range wins', (t) => {
  const trie = new CidrTrie<string>();
  trie.insert('10.0.0.0/8', 'first');
  trie.insert('10.0.0.0/8', 'second');
  t.is(trie.lookup('10.0.0.1')?.value, 'first');
  t.is(trie.size, 1);
});

test('invalid CIDRs are rejected', (t) => {
  for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/x', 'nope/8', '2001:db8::/129']) t.is(parseCidr(bad), undefined, bad);
  t.is(parseCidr('::ffff:10.0.0.0/104')?.prefixLength, 8);
});

/** The address as a 128-bit (IPv6) or 32-bit (IPv4) BigInt, for the brute-force reference. */
function bitsOf(text: string): { version: 4 | 6; bits: bigint } {
  const ip = parseCidr(text)!.ip;
  if (ip.version === 4) return { version: 4, bits: BigInt(ip.value) };
  return { version: 6, bits: ip.groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

test('lookups agree with a brute-force longest-prefix scan on many nested ranges and addresses', (t) => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const v4 = () => `${next() % 256}.${next() % 256}.${next() % 256}.${next() % 256}`;
  const v6 = () => `2001:${(next() % 4).toString(16)}:${(next() % 0xffff).toString(16)}::${(next() % 0xffff).toString(16)}`;
  const trie = new CidrTrie<number>();
  const ranges: { version: 4 | 6; bits: bigint; prefixLength: number; id: number }[] = [];
  for (let id = 0; id < 3000; id++) {
    const isV6 = id % 3 === 0;
    const cidr = isV6 ? `${v6()}/${next() % 129}` : `${v4()}/${next() % 33}`;
    trie.insert(cidr, id);
    const parsed = parseCidr(cidr)!;
    ranges.push({ ...bitsOf(cidr.slice(0, cidr.indexOf('/'))), prefixLength: parsed.prefixLength, id });
  }
  const reference = (text: string): { value: number; prefixLength: number } | undefined => {
    const address = bitsOf(text);
    const width = address.version === 4 ? 32n : 128n;
    let best: (typeof ranges)[number] | undefined;
    for (const range of ranges) {
      if (range.version !== address.version) continue;
      const shift = width - BigInt(range.prefixLength);
      if (range.bits >> shift !== address.bits >> shift) continue;
      if (!best || range.prefixLength > best.prefixLength) best = range;
    }
    return best && { value: best.id, prefixLength: best.prefixLength };
  };
  for (let i = 0; i < 3000; i++) {
    const address = i % 4 === 0 ? v6() : i % 4 === 1 ? `::ffff:${v4()}` : v4();
    t.deepEqual(trie.lookup(address), reference(address), address);
  }
});
