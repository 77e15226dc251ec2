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
