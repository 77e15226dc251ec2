// Issue 8: a destination that goes down during `promote --confirm` fails fast once for that
// endpoint: its other actions are not tried (no retries per item), the run names the endpoint,
// the healthy destination is promoted in full, and a rerun once it is back converges.
// The destination is a TCP forwarder to a real docker-registry that, once the intent ledger has
// been written, drops its connections and closes its port (connections are then refused).
import test from 'ava';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startRegistry } from '../helpers/peers.js';
import { captureIo } from '../helpers/io.js';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { tree } from '../promoter/fixtures.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';

const PROJECT = 'k8s-staging-down';
const IMAGES = 5;

/** Forwards `port` to `target`; `cut` is true once it should drop everything (checked on each chunk from the client). */
async function forwarder(target: { port: number }, port: number, cut: (chunk: string) => boolean): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const close = async () => {
    for (const s of sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  };
  server = createServer((client) => {
    const up = connect(target.port, '127.0.0.1');
    sockets.add(client).add(up);
    client.on('data', (chunk: Buffer) => {
      if (cut(chunk.toString('latin1'))) void close();
      else up.write(chunk);
    });
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  return { close };
}

test('a destination that goes down mid-run fails fast once; the rerun converges', async (t) => {
  t.timeout(180_000);
  const [staging, down, healthy] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), down.stop(), healthy.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const images = await pushBigImages(staging.host, PROJECT, { count: IMAGES, baseBytes: 1024, ownBytes: 512 });
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const flaky = `127.0.0.1:${port}`;
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${flaky}/prod`, `${healthy.host}/prod`], images);
  const target = { port: Number(down.host.split(':')[1]) };

  // Down as soon as the first image request comes after the intent ledger was written.
  let ledgerWritten = false;
  const fwd = await forwarder(target, port, (chunk) => {
    if (/^PUT \/v2\/prod\/artifact-serving-ledger\/manifests\/images--/m.test(chunk)) ledgerWritten = true;
    else if (ledgerWritten && /^(?:HEAD|GET|POST|PUT) \/v2\/prod\/img-/m.test(chunk)) return true;
    return false;
  });
  t.teardown(fwd.close);
  let attemptsAfterDown = 0;
  let isDown = false;
  const counting: typeof fetch = (input, init) => {
    if (isDown && String(input instanceof Request ? input.url : input).includes(flaky)) attemptsAfterDown++;
    return fetch(input, init);
  };
  const backends = createBackends({ fetch: counting, retry: { attempts: 3, baseMs: 5, maxMs: 20 } });
  t.teardown(() => backends.close());
  const { out, io } = captureIo();
  const r = await promote({ dir: m, confirm: true, prune: false, parallel: 1, retry: { attempts: 3, baseMs: 5, maxMs: 20 }, lease: { waitMs: 0 } }, backends, {
    ...io,
    stderr: (s) => {
      if (s.startsWith(`failed: ${flaky}`)) isDown = true;
      io.stderr(s);
    },
  });
  t.is(r.exitCode, 1);
  const failed = r.results.filter((x) => x.destination.startsWith(flaky));
  t.is(failed.length, 2 * IMAGES, 'every copy and tag of the down destination is reported');
  t.true(
    failed.every((x) => x.error !== undefined),
    JSON.stringify(failed),
  );
  const notTried = failed.filter((x) => /is unreachable \(.*\); not tried again in this run/.test(x.error ?? ''));
  t.is(notTried.length, IMAGES, out.stderr); // each copy names the endpoint; each tag waits for its copy
  t.regex(out.stderr, new RegExp(`unreachable: ${flaky}: .*went down during the run`));
  t.true(attemptsAfterDown === 0, `requests sent to the down endpoint after its first failure: ${attemptsAfterDown}`);
  t.true(
    r.results.filter((x) => x.destination.startsWith(healthy.host)).every((x) => !x.error),
    'the healthy destination is promoted in full',
  );
  t.deepEqual((await new RegistryClient(healthy.host).listTags(`prod/${images[0]!.name}`)).sort(), ['v1']);

  // Back up: the rerun copies what is missing and converges.
  await fwd.close();
  const back = await forwarder(target, port, () => false);
  t.teardown(back.close);
  const again = captureIo();
  // The first run's lease there could not be released; in one test process its holder is alive,
  // so a short --lease-stale lets the rerun take it over (a new process would at once).
  const r2 = await promote({ dir: m, confirm: true, prune: false, parallel: 2, lease: { waitMs: 10_000, pollMs: 50, staleMs: 100 } }, createBackends(), again.io);
  t.is(r2.exitCode, 0, again.out.stderr + again.out.stdout);
  for (const image of images) t.deepEqual(await new RegistryClient(flaky).listTags(`prod/${image.name}`), ['v1']);
  const third = captureIo();
  const r3 = await promote({ dir: m, confirm: false, prune: false, parallel: 2 }, createBackends(), third.io);
  t.is(r3.exitCode, 0);
  t.regex(third.out.stdout, /Nothing to do/);
});
