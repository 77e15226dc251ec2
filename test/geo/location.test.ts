// LocationCache memoises a request's client by the peer address and X-Forwarded-For texts: the
// memo must answer exactly what resolving afresh would, and forget what a reload made wrong.
import test from 'ava';
import { LocationCache, locateRequestClient } from '../../src/geo/location.js';
import { compile } from '../helpers/config.js';

const config = (proxies: string) =>
  compile(`
trustedProxies: ${proxies}
mirrors:
  eu: { url: http://eu.test }
routes:
  - prefix: /files
    default: eu
`);

test('a memoised location is the one resolved afresh', (t) => {
  const c = config('[127.0.0.1/32]');
  const locations = new LocationCache(16);
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', '81.2.69.160'],
    ['127.0.0.1', '192.0.2.9, 81.2.69.160'],
    ['127.0.0.1', 'not an address'],
    ['198.51.100.7', '81.2.69.160'],
    ['127.0.0.1', undefined],
    ['::ffff:127.0.0.1', '2001:db8::1'],
    ['127.0.0.1', `${'1.2.3.4, '.repeat(100)}81.2.69.160`],
  ];
  for (const [peer, xff] of [...cases, ...cases]) {
    t.deepEqual(locations.locateRequest(peer, xff, c.trustedProxies, c.geo), locateRequestClient(peer, xff, c.trustedProxies, c.geo), `${peer} ${xff}`);
  }
  t.is(locations.locateRequest('127.0.0.1', '81.2.69.160', c.trustedProxies, c.geo).country, 'GB');
});

test('a reload that stops trusting a proxy is not answered from the memo', (t) => {
  const trusting = config('[127.0.0.1/32]');
  const locations = new LocationCache(16);
  t.is(locations.locateRequest('127.0.0.1', '81.2.69.160', trusting.trustedProxies, trusting.geo).ip.text, '81.2.69.160');
  const distrusting = { ...trusting, trustedProxies: config('[]').trustedProxies };
  t.is(locations.locateRequest('127.0.0.1', '81.2.69.160', distrusting.trustedProxies, distrusting.geo).ip.text, '127.0.0.1');
});

// The memo is keyed by the X-Forwarded-For text alone (no key joined per request): the peer, and
// whether there was a header at all, are checked on a hit.
test('one X-Forwarded-For text from several peers, and a header equal to a peer address, are told apart', (t) => {
  const c = config('[127.0.0.1/32, 127.0.0.2/32]');
  const locations = new LocationCache(16);
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', '81.2.69.160'],
    ['198.51.100.7', '81.2.69.160'],
    ['127.0.0.2', '81.2.69.160'],
    ['81.2.69.160', undefined],
    ['127.0.0.1', '198.51.100.7'],
    ['198.51.100.7', undefined],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [peer, xff] of cases) {
      t.deepEqual(locations.locateRequest(peer, xff, c.trustedProxies, c.geo), locateRequestClient(peer, xff, c.trustedProxies, c.geo), `${peer} ${xff}`);
    }
  }
  t.is(locations.locateRequest('198.51.100.7', '81.2.69.160', c.trustedProxies, c.geo).ip.text, '198.51.100.7', 'an untrusted peer is not believed');
  t.is(locations.locateRequest('127.0.0.2', '81.2.69.160', c.trustedProxies, c.geo).ip.text, '81.2.69.160');
});
