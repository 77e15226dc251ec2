import test from 'ava';
import { TwoGenerationMemo } from '../../src/geo/two-generation-memo.js';

test('holds at most its capacity, whatever is inserted', (t) => {
  const memo = new TwoGenerationMemo<number, number>(100);
  for (let i = 0; i < 10_000; i++) {
    memo.set(i, i);
    t.true(memo.size <= 100);
  }
  t.is(memo.get(9_999), 9_999);
  t.is(memo.get(0), undefined);
});

test('an entry used within every half of the capacity stays, as in an LRU', (t) => {
  const memo = new TwoGenerationMemo<string, number>(100);
  memo.set('hot', 1);
  for (let i = 0; i < 10_000; i++) {
    memo.set(`cold ${i}`, i);
    if (i % 40 === 0) t.is(memo.get('hot'), 1, `after ${i} insertions`);
  }
});

test('an entry not used for a whole capacity of insertions is dropped', (t) => {
  const memo = new TwoGenerationMemo<string, number>(100);
  memo.set('once', 1);
  for (let i = 0; i < 100; i++) memo.set(`other ${i}`, i);
  t.is(memo.get('once'), undefined);
});

test('setting a held key replaces its value without dropping a generation', (t) => {
  const memo = new TwoGenerationMemo<string, number>(4);
  memo.set('a', 1);
  memo.set('b', 2);
  memo.set('b', 3);
  t.is(memo.get('a'), 1);
  t.is(memo.get('b'), 3);
  memo.clear();
  t.is(memo.size, 0);
  t.is(memo.get('a'), undefined);
});
