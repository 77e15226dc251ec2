import test from 'ava';
import { openGeoIpDatabase } from '../../src/geo/geoip.js';

const db = openGeoIpDatabase();

test('the embedded DB-IP database knows countries for IPv4 and IPv6', (t) => {
  t.is(db.country('8.8.8.8'), 'US');
  t.is(db.country('81.2.69.160'), 'GB');
  t.is(db.country('1.1.1.1'), 'AU');
  t.is(db.country('2a00:1450:4001::1'), 'DE');
  t.regex(db.source, /dbip-country\.mmdb$/);
});

test('private and documentation addresses have no country', (t) => {
  t.is(db.country('127.0.0.1'), undefined);
  t.is(db.country('10.1.2.3'), undefined);
});
