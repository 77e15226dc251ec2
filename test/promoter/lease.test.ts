// The lease's renewal and release, on an in-memory slot (the stores' slots are tested in
// test/e2e/promote-lease.test.ts against real folders, s3rver and docker-registry).
import test from 'ava';
import { acquire, type LeaseRecord } from '../../src/promoter/lease.js';

test('a renewal in flight when the lease is released does not put the record back', async (t) => {
  let record: LeaseRecord | undefined;
  let renewalStarted!: () => void;
  const started = new Promise<void>((resolve) => (renewalStarted = resolve));
  let renewalDone!: () => void;
  const done = new Promise<void>((resolve) => (renewalDone = resolve));
  const slot = {
    location: 'memory://prod/',
    read: async () => record,
    create: async (r: LeaseRecord) => {
      if (record) return false;
      record = r;
      return true;
    },
    // The renewal's write is slow: release() runs while it is under way.
    write: async (r: LeaseRecord) => {
      renewalStarted();
      await new Promise((resolve) => setTimeout(resolve, 200));
      record = r;
      renewalDone();
    },
    remove: async () => {
      record = undefined;
    },
  };
  // The renewal timer is unref'd (it must not keep a CLI alive): hold the test's loop open.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  const lease = await acquire(slot, { waitMs: 1000, pollMs: 10, renewMs: 20, staleMs: 60_000 });
  await started;
  await lease.release();
  await done;
  t.is(record, undefined, 'the lease is free once released');
});
