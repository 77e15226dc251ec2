// One registry's quota, shared by every worker of a run (kpromo's lesson with registry quotas):
// when any request gets HTTP 429, every request to that registry waits until the pause it asked
// for (Retry-After, else a second) is over, instead of each worker discovering the limit on its
// own and hammering on. The request that got the 429 is retried by the client as before.
import { setTimeout as sleep } from 'node:timers/promises';
import { retryAfterMs } from '../net/retry.js';

const DEFAULT_PAUSE_MS = 1000;
/** A Retry-After beyond this is capped: a run should not stall for an hour on one header. */
const MAX_PAUSE_MS = 5 * 60_000;

export class PauseGate {
  private until = 0;

  /** Pause every request through this gate for `ms` from now (longer pauses win). */
  pauseFor(ms: number): void {
    this.until = Math.max(this.until, Date.now() + Math.min(ms, MAX_PAUSE_MS));
  }

  /** Resolves once no pause is in force. */
  async ready(): Promise<void> {
    for (;;) {
      const wait = this.until - Date.now();
      if (wait <= 0) return;
      await sleep(wait);
    }
  }

  /** `fetchFn` waiting for the gate before each request, and pausing it on a 429. */
  wrap(fetchFn: typeof fetch): typeof fetch {
    return async (input, init) => {
      await this.ready();
      const res = await fetchFn(input, init);
      if (res.status === 429) this.pauseFor(retryAfterMs(res.headers.get('retry-after')) ?? DEFAULT_PAUSE_MS);
      return res;
    };
  }
}
