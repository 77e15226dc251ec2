// Issue 8 against real docker-registry instances: planning reads one tags list per repository
// and destination plus the ledger, and HEADs only what those cannot answer. Requests are counted
// through the promoter's own fetch, by destination and method.
import test from 'ava';
import { startRegistry } from '../helpers/peers.js';
import { captureIo } from '../helpers/io.js';
import { RegistryClient } from '../../src/oci/client.js';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { tree } from '../promoter/fixtures.js';
import { pushBigImages, writeImageManifests } from '../promoter/big-images.js';

const PROJECT = 'k8s-staging-plan';
const IMAGES = 6;

test('planning sends one tags list per repository and destination, and no HEAD once the ledger knows', async (t) => {
  t.timeout(180_000);
  const [staging, a, b] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  t.teardown(() => Promise.all([staging.stop(), a.stop(), b.stop()]));
  const { dir, cleanup } = await tree({});
  t.teardown(cleanup);
  const images = await pushBigImages(staging.host, PROJECT, { count: IMAGES, baseBytes: 1024, ownBytes: 512 });
  const m = await writeImageManifests(dir, PROJECT, `${staging.host}/${PROJECT}`, [`${a.host}/prod`, `${b.host}/prod`], images);

  let requests: string[] = [];
  let fallbackTagHeads = 0;
  const counting: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (init?.method === 'HEAD' && url.host === staging.host && /\/manifests\/sha256-[0-9a-f]{64}/.test(url.pathname)) fallbackTagHeads++;
    requests.push(`${init?.method ?? 'GET'} ${url.host} ${url.pathname.includes('/tags/list') ? 'tags' : url.pathname.split('/').at(-2)}`);
    return fetch(input, init);
  };
  const backends = createBackends({ fetch: counting });
  t.teardown(() => backends.close());
  const dryRun = async () => {
    requests = [];
    const { out, io } = captureIo();
    const r = await promote({ dir: m, confirm: false, prune: false, parallel: 4 }, backends, io);
    const toDest = requests.filter((x) => x.includes(a.host) || x.includes(b.host));
    return { r, out, toDest, heads: toDest.filter((x) => x.startsWith('HEAD')).length };
  };

  const empty = await dryRun();
  t.is(empty.r.exitCode, 0, empty.out.stderr);
  t.log(`empty: ${empty.toDest.length} requests to the destinations`);
  t.is(empty.heads, 0, 'an empty destination needs no HEAD per digest or tag');
  t.is(empty.toDest.filter((x) => x.endsWith(' tags')).length, 2 * IMAGES, 'one tags list per repository and destination');

  const { out, io } = captureIo();
  fallbackTagHeads = 0;
  const done = await promote({ dir: m, confirm: true, prune: false, parallel: 4 }, backends, io);
  t.is(done.exitCode, 0, out.stderr);
  // Staging's tags list (read while planning) has no `sha256-<hex>[.sig|.att|.sbom]` tags here:
  // copying asks about none of them (it was 4 HEADs per digest per destination).
  t.is(fallbackTagHeads, 0, 'no HEAD for referrer fallback tags staging does not have');

  const full = await dryRun();
  t.is(full.r.exitCode, 0, full.out.stderr);
  t.regex(full.out.stdout, /Nothing to do/);
  t.log(`populated: ${full.toDest.length} requests to the destinations (one HEAD per digest and tag would be ${2 * IMAGES * 2} HEADs)`);
  t.is(full.heads, 0, 'the tags list and the ledger answer everything');
  t.is(full.toDest.filter((x) => x.endsWith(' tags')).length, 2 * IMAGES);

  // An image deleted behind the promoter's back (its tag goes with it): the ledger still lists
  // its digest, so it is checked with one HEAD, found missing, and copied again.
  t.true(await new RegistryClient(a.host).deleteManifest(`prod/${images[0]!.name}`, images[0]!.digest));
  const after = await dryRun();
  t.is(after.heads, 1, after.toDest.join('\n'));
  t.regex(after.out.stdout, /Would execute 2 action\(s\)/);
  t.regex(after.out.stdout, new RegExp(`copy ${images[0]!.name}@${images[0]!.digest}`));
});
