// Blob streams handed from the staging GET to the destination upload survive garbage collection:
// images of several MiB copied between docker-registry instances while collection is forced
// every few milliseconds. (Before the fix the body's Response was collected mid-copy and undici
// cancelled the stream: "Response body object should not be disturbed or locked".)
import test from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startRegistry } from '../helpers/peers.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { tree } from '../promoter/fixtures.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';
import { captureIo } from '../helpers/io.js';

// The same as `node --expose-gc`, from inside the test process.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PROJECT = 'k8s-staging-big';

test('multi-MiB images copy between registries while GC is forced constantly', async (t) => {
  t.timeout(240_000); // forced GC every 2 ms is slow on a shared machine
  const [staging, a, b] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), a.stop(), b.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const images = await pushBigImages(staging.host, PROJECT, { count: 4, baseBytes: 4 << 20, ownBytes: 2 << 20 });
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`, `${b.host}/prod`], images);

  const timer = setInterval(gc, 2);
  t.teardown(() => clearInterval(timer));
  const { out, io } = captureIo();
  // One attempt: a cancelled stream must not be papered over by retries.
  const r = await promote({ dir: m, confirm: true, prune: false, parallel: 4, retry: { attempts: 1, baseMs: 1, maxMs: 1 } }, createBackends(), io);
  clearInterval(timer);
  t.is(r.exitCode, 0, out.stderr);
  t.is(r.results.filter((x) => x.error).length, 0);
  t.is(r.results.length, 16, '4 copies and 4 tags per destination');
});
