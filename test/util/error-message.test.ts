import test from 'ava';
import { errorMessage } from '../../src/util/error-message.js';

test('errorMessage: an Error, an error-like object, a thrown string or anything else', (t) => {
  t.is(errorMessage(new TypeError('fetch failed')), 'fetch failed');
  t.is(errorMessage({ message: 'from a library', code: 'E' }), 'from a library');
  t.is(errorMessage('plain string'), 'plain string');
  t.is(errorMessage(undefined), 'undefined');
  t.is(errorMessage({ message: 42 }), '[object Object]');
});
