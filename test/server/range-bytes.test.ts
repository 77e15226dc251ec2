// The access log's egress for a ranged GET is the part asked for, not the whole object.
import test from 'ava';
import { bytesFetched } from '../../src/server/range-bytes.js';

const CASES: [number | undefined, string | undefined, number | undefined][] = [
  [1000, undefined, 1000],
  [undefined, 'bytes=0-99', undefined],
  [1000, 'bytes=0-99', 100],
  [1000, 'bytes=900-', 100],
  [1000, 'bytes=-300', 300],
  [1000, 'bytes=-3000', 1000],
  [1000, 'bytes=500-5000', 500],
  [1000, 'bytes=0-9, 20-29', 20],
  [1000, 'bytes=2000-', 0],
  [1000, 'BYTES = 10 - 19', 10],
  [1000, 'bytes=9-0', 1000],
  [1000, 'items=0-9', 1000],
  [1000, 'bytes=abc', 1000],
  [1000, 'bytes=-', 1000],
];

for (const [size, range, expected] of CASES) {
  test(`${range ?? 'no range'} of ${size ?? 'an unknown size'}: ${expected ?? 'unknown'}`, (t) => {
    t.is(bytesFetched(size, range), expected);
  });
}
