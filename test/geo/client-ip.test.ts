import test from 'ava';
import { CidrTrie } from '../../src/geo/cidr-trie.js';
import { resolveClientIp } from '../../src/geo/client-ip.js';

const trusted = new CidrTrie<true>();
trusted.insert('10.0.0.0/8', true);
trusted.insert('::1/128', true);
const none = new CidrTrie<true>();

const cases: [string, string, string | undefined, CidrTrie<true>, string][] = [
  ['no header: the socket address', '203.0.113.9', undefined, trusted, '203.0.113.9'],
  ['untrusted peer: header ignored (spoofing)', '203.0.113.9', '1.1.1.1', trusted, '203.0.113.9'],
  ['no trusted proxies configured: header ignored', '10.0.0.2', '1.1.1.1', none, '10.0.0.2'],
  ['trusted peer: rightmost untrusted hop', '10.0.0.2', '1.1.1.1', trusted, '1.1.1.1'],
  ['client-written left part is not believed', '10.0.0.2', '6.6.6.6, 1.1.1.1', trusted, '1.1.1.1'],
  ['trusted hops are skipped', '10.0.0.2', '6.6.6.6, 1.1.1.1, 10.3.3.3', trusted, '1.1.1.1'],
  ['garbage hop stops the walk at the last trusted address', '10.0.0.2', '1.1.1.1, garbage', trusted, '10.0.0.2'],
  ['all hops trusted: the leftmost', '10.0.0.2', '10.0.0.9, 10.0.0.8', trusted, '10.0.0.9'],
  ['IPv6 loopback proxy, IPv6 client', '::1', '2001:db8::5', trusted, '2001:db8::5'],
  ['mapped IPv4 peer is IPv4', '::ffff:10.0.0.2', '1.1.1.1', trusted, '1.1.1.1'],
  ['bracketed IPv6 hop', '10.0.0.2', '[2001:db8::7]', trusted, '2001:db8::7'],
  ['spaces and tabs around hops', '10.0.0.2', ' 6.6.6.6 ,\t1.1.1.1 ', trusted, '1.1.1.1'],
  ['spaces around trusted hops', '10.0.0.2', '1.1.1.1 , 10.3.3.3 ,10.4.4.4', trusted, '1.1.1.1'],
  ['an empty hop stops the walk at the last trusted address', '10.0.0.2', ', 10.0.0.9', trusted, '10.0.0.9'],
  ['only commas', '10.0.0.2', ',,', trusted, '10.0.0.2'],
];

for (const [name, peer, header, proxies, expected] of cases) {
  test(name, (t) => {
    t.is(resolveClientIp(peer, header, proxies)?.text, expected);
  });
}
