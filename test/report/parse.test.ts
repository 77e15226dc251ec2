import test from 'ava';
import { parseLine, routeType } from '../../src/report/parse.js';

const GOOD = { time: 1780000000000, method: 'GET', path: '/bin/x', status: 302, ip: '81.2.69.160', country: 'GB', continent: 'EU', mirror: 'eu', region: 'Europe', ms: 0.4, bytes: 10, ua: 'curl' };

test('a line the redirector writes parses to the same entry', (t) => {
  const parsed = parseLine(JSON.stringify(GOOD));
  t.deepEqual(parsed, { ok: true, entry: { ...GOOD, cloud: undefined } });
});

test('absent optional fields stay absent; ISO times are accepted', (t) => {
  const parsed = parseLine(JSON.stringify({ time: '2026-06-01T00:00:00Z', method: 'GET', path: '/v2/', status: 200, ms: 0, country: '' }));
  t.true(parsed.ok);
  if (!parsed.ok) return;
  t.is(parsed.entry.time, Date.parse('2026-06-01T00:00:00Z'));
  t.is(parsed.entry.country, undefined);
  t.is(parsed.entry.bytes, undefined);
  t.is(parsed.entry.ip, '');
});

test('malformed lines give a reason and never throw', (t) => {
  const cases: [string, RegExp][] = [
    ['{"time":1', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['null', /not a JSON object/],
    [JSON.stringify({ ...GOOD, time: 'yesterday' }), /time/],
    [JSON.stringify({ ...GOOD, status: '302' }), /status/],
    [JSON.stringify({ ...GOOD, status: 99 }), /status/],
    [JSON.stringify({ ...GOOD, ms: -1 }), /ms/],
    [JSON.stringify({ ...GOOD, ms: undefined }), /ms/],
    [JSON.stringify({ ...GOOD, bytes: 'big' }), /bytes/],
    [JSON.stringify({ ...GOOD, mirror: 3 }), /mirror/],
    [JSON.stringify({ ...GOOD, path: undefined }), /path/],
  ];
  for (const [line, reason] of cases) {
    const parsed = parseLine(line);
    t.false(parsed.ok, line);
    if (!parsed.ok) t.regex(parsed.reason, reason, line);
  }
});

test('route types from paths', (t) => {
  t.is(routeType('/v2/'), 'oci-base');
  t.is(routeType('/v2'), 'oci-base');
  t.is(routeType('/v2/pause/manifests/3.10'), 'oci-manifest');
  t.is(routeType('/v2/kops/dns/blobs/sha256:abc'), 'oci-blob');
  t.is(routeType('/v2/pause/tags/list'), 'oci-tags');
  t.is(routeType('/v2/pause/referrers/sha256:abc'), 'oci-referrers');
  t.is(routeType('/v2/_catalog'), 'oci-other');
  t.is(routeType('/releases/v1/kubectl.meta4'), 'metalink');
  t.is(routeType('/releases/v1/kubectl'), 'binary');
});
