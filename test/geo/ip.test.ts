import test from 'ava';
import { parseIp } from '../../src/geo/ip.js';

const cases: [string, string | undefined, 4 | 6 | undefined][] = [
  ['1.2.3.4', '1.2.3.4', 4],
  ['::ffff:1.2.3.4', '1.2.3.4', 4],
  ['::FFFF:10.0.0.1', '10.0.0.1', 4],
  ['[2001:db8::1]', '2001:db8::1', 6],
  ['fe80::1%eth0', 'fe80::1', 6],
  ['2001:DB8::1', '2001:db8::1', 6],
  ['::', '::', 6],
  ['1.2.3.4:5678', '1.2.3.4', 4],
  ['[2001:db8::1]:443', '2001:db8::1', 6],
  ['1.2.3', undefined, undefined],
  ['256.1.1.1', undefined, undefined],
  ['not-an-ip', undefined, undefined],
  ['', undefined, undefined],
];

for (const [input, text, version] of cases) {
  test(`parseIp(${JSON.stringify(input)})`, (t) => {
    const ip = parseIp(input);
    t.is(ip?.text, text);
    t.is(ip?.version, version);
  });
}

test('IPv6 groups are expanded around ::', (t) => {
  const ip = parseIp('2001:db8::7:8');
  t.is(ip?.version, 6);
  if (ip?.version !== 6) return;
  t.deepEqual([...ip.groups], [0x2001, 0xdb8, 0, 0, 0, 0, 7, 8]);
});
