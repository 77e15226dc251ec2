import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirtyBytes, FLUSH_FROM_FILES, syncfsReportsErrors, worthFlushing } from '../../../src/promoter/stores/flush.js';

const MiB = 2 ** 20;

test('one flush is worth it for many files with little else dirty, not for few files or much other dirty data', (t) => {
  t.false(worthFlushing(FLUSH_FROM_FILES - 1, MiB, MiB), 'too few files: an fsync each');
  t.true(worthFlushing(250, 8 * MiB, 8 * MiB), 'only our own batch is dirty');
  t.true(worthFlushing(250, 8 * MiB, 40 * MiB), 'a little of others: still cheaper than 250 fsyncs');
  t.false(worthFlushing(250, 8 * MiB, 2048 * MiB), 'others left 2 GiB dirty: the flush would write it all');
  t.true(worthFlushing(1000, 8 * MiB, 100 * MiB), 'more files spare more fsyncs');
  t.false(worthFlushing(1000, 8 * MiB, undefined), 'unknown: an fsync each');
});

test('dirty bytes are Dirty + Writeback of /proc/meminfo; unknown when missing or unreadable', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flush-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const meminfo = join(dir, 'meminfo');
  await writeFile(meminfo, 'MemTotal:       4000000 kB\nDirty:              4048 kB\nWriteback:           12 kB\nWritebackTmp:      999 kB\n');
  t.is(dirtyBytes(meminfo), (4048 + 12) * 1024);
  await writeFile(meminfo, 'MemTotal:       4000000 kB\n');
  t.is(dirtyBytes(meminfo), undefined);
  t.is(dirtyBytes(join(dir, 'absent')), undefined);
  t.is(typeof dirtyBytes(), process.platform === 'linux' ? 'number' : 'undefined');
});

test('syncfs is trusted only on kernels that report write-back errors to it (Linux 5.8 and later)', (t) => {
  t.true(syncfsReportsErrors('6.18.0-1-amd64'));
  t.true(syncfsReportsErrors('5.8.0'));
  t.false(syncfsReportsErrors('5.7.19'));
  t.false(syncfsReportsErrors('4.19.0-26-amd64'));
  t.false(syncfsReportsErrors('unknown'));
});
