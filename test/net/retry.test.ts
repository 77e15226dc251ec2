import test from 'ava';
import { TransientError, isTransient, retryAfterMs, withRetry } from '../../src/net/retry.js';

test('retries transient failures, honours Retry-After, gives up on permanent ones', async (t) => {
  const waits: number[] = [];
  let n = 0;
  const v = await withRetry(
    async () => {
      if (++n < 3) throw new TransientError('429', 0);
      return 'ok';
    },
    { attempts: 5, baseMs: 1, maxMs: 10, onRetry: (_e, _a, w) => waits.push(w) },
  );
  t.is(v, 'ok');
  t.deepEqual(waits, [0, 0]);
  let m = 0;
  await t.throwsAsync(
    withRetry(
      async () => {
        m++;
        throw new Error('404');
      },
      { attempts: 5, baseMs: 1, maxMs: 1 },
    ),
  );
  t.is(m, 1);
  t.true(isTransient({ $metadata: { httpStatusCode: 503 } }));
  t.false(isTransient({ $metadata: { httpStatusCode: 403 } }));
  t.is(retryAfterMs('3'), 3000);
  t.is(retryAfterMs(null), undefined);
});
