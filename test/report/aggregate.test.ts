import test from 'ava';
import { addEntry, createAggregates, UNKNOWN } from '../../src/report/aggregate.js';
import type { AccessLogEntry } from '../../src/server/access-log.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');

function entry(over: Partial<AccessLogEntry>): AccessLogEntry {
  return { time: T0, method: 'GET', path: '/bin/x', status: 302, ip: '192.0.2.1', ms: 1, ...over };
}

test('counts requests, redirects, GET redirects, sized bytes per mirror, country and continent', (t) => {
  const agg = createAggregates();
  addEntry(agg, entry({ country: 'DE', continent: 'EU', mirror: 'eu', region: 'Europe', bytes: 100 }));
  addEntry(agg, entry({ country: 'DE', continent: 'EU', mirror: 'eu', region: 'Europe' })); // size unknown
  addEntry(agg, entry({ country: 'DE', continent: 'EU', mirror: 'eu', region: 'Europe', method: 'HEAD', bytes: 100 })); // HEAD moves no bytes
  addEntry(agg, entry({ country: 'FR', continent: 'EU', mirror: 'us', region: 'default', bytes: 50, time: T0 + 10_000 }));
  addEntry(agg, entry({ country: 'FR', continent: 'EU', status: 503, time: T0 - 5_000 }));
  addEntry(agg, entry({ path: '/v2/', status: 200 })); // no country: unknown

  t.deepEqual(agg.total.traffic, { requests: 6, redirects: 4, getRedirects: 3, sized: 2, bytes: 150 });
  t.deepEqual(agg.total.status, { '2xx': 1, '3xx': 4, '4xx': 0, '5xx': 1, '503': 1 });
  t.deepEqual(agg.total.byMirror.get('eu'), { requests: 3, redirects: 3, getRedirects: 2, sized: 1, bytes: 100 });
  t.deepEqual(agg.total.byMirror.get('us'), { requests: 1, redirects: 1, getRedirects: 1, sized: 1, bytes: 50 });
  t.deepEqual(agg.countries.get('DE')!.traffic, { requests: 3, redirects: 3, getRedirects: 2, sized: 1, bytes: 100 });
  t.deepEqual(agg.countries.get('FR')!.traffic, { requests: 2, redirects: 1, getRedirects: 1, sized: 1, bytes: 50 });
  t.deepEqual(Object.fromEntries(agg.countries.get('FR')!.byRegion), { default: 1 });
  t.is(agg.countries.get('FR')!.status['503'], 1);
  t.is(agg.countries.get(UNKNOWN)!.traffic.requests, 1);
  t.deepEqual(agg.continents.get('EU')!.traffic, { requests: 5, redirects: 4, getRedirects: 3, sized: 2, bytes: 150 });
  t.is(agg.continents.get(UNKNOWN)!.traffic.requests, 1);
  t.is(agg.first, T0 - 5_000);
  t.is(agg.last, T0 + 10_000);
});

test('latency per route type and per mirror (redirects only)', (t) => {
  const agg = createAggregates();
  addEntry(agg, entry({ mirror: 'eu', ms: 2 }));
  addEntry(agg, entry({ path: '/v2/p/blobs/sha256:aa', status: 307, mirror: 'eu', ms: 4 }));
  addEntry(agg, entry({ path: '/v2/p/blobs/sha256:aa', status: 404, ms: 8 }));
  t.is(agg.latency.count, 3);
  t.is(agg.latency.max, 8);
  t.is(agg.latencyByRoute.get('oci-blob')!.count, 2);
  t.is(agg.latencyByRoute.get('binary')!.count, 1);
  t.is(agg.latencyByMirror.get('eu')!.count, 2);
  t.is(agg.latencyByMirror.get('eu')!.max, 4);
});

test('a 3xx without a mirror is not a redirect to a mirror; a mirror on a 4xx is ignored', (t) => {
  const agg = createAggregates();
  addEntry(agg, entry({ status: 301 }));
  addEntry(agg, entry({ status: 404, mirror: 'eu', bytes: 5 }));
  t.deepEqual(agg.total.traffic, { requests: 2, redirects: 0, getRedirects: 0, sized: 0, bytes: 0 });
  t.is(agg.total.byMirror.size, 0);
});
