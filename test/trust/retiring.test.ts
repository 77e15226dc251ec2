// Prune grace, the redirector's side (issue 9 item 4): what a ledger marks retiring is about to be
// deleted, so it is not expected content and no mirror gets a client for it; the origin answers.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decide, type Decision } from '../../src/decision/decide.js';
import type { Availability, MirrorStateView } from '../../src/mirrors/state-view.js';
import { emptyLedger, imageLedger, serialiseLedger } from '../../src/promoter/ledger.js';
import { ExpectedContent, loadExpected, type ExpectedRoute } from '../../src/trust/expected.js';
import { retiredSince, TrustState } from '../../src/trust/state.js';
import { compile } from '../helpers/config.js';
import { tempDir } from '../helpers/temp-dir.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const SHA = 'e'.repeat(64);
const SINCE = '2026-11-30T12:00:00.000Z';

function setup() {
  const images = tempDir('artifact-serving-retiring-');
  const files = tempDir('artifact-serving-retiring-');
  const il = emptyLedger();
  imageLedger(il, 'pause').digests.add(D1).add(D2);
  imageLedger(il, 'pause').tags.set('1.0', D1).set('1.0-alias', D1).set('2.0', D2);
  il.retiring = new Map([[`pause@${D1}`, SINCE]]);
  writeFileSync(join(images, 'images--kops.json'), serialiseLedger(il, 'images/kops', 'eu.example/prod/kops'));
  const fl = emptyLedger();
  fl.files.set('old.txt', SHA).set('new.txt', SHA);
  fl.retiring = new Map([['old.txt', SINCE]]);
  writeFileSync(join(files, 'files--rel.json'), serialiseLedger(fl, 'files/rel', 's3://eu-bucket/releases/'));
  return compile(`
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
  origin-reg: { registry: https://origin.example, repository: prod, probe: false }
  eu-files: { url: https://eu-files.example, probe: false }
  origin-files: { url: https://origin-files.example, probe: false }
routes:
  - prefix: /v2/
    default: eu-reg
    origin: origin-reg
  - prefix: /releases
    default: eu-files
    origin: origin-files
trust:
  expected:
    - { route: /v2/, ledgers: ${images}, root: prod }
    - { route: /releases, ledgers: ${files} }
`);
}

async function trustFor(config: ReturnType<typeof setup>): Promise<TrustState> {
  const loaded = await loadExpected(config.trust);
  if (!loaded.ok) throw new Error(`expected content should load: ${JSON.stringify(loaded.problems)}`);
  const trust = new TrustState();
  trust.apply(config, loaded.expected);
  return trust;
}

const present = (digest?: string): Availability => ({ state: 'present', checkedAt: Date.now(), ...(digest && { digest }) });

function go(config: ReturnType<typeof setup>, trust: TrustState, answers: Record<string, Availability>, path: string): Decision {
  const view: MirrorStateView = { health: () => ({ up: true }), availability: (mirror, key) => answers[`${mirror} ${key}`], trust };
  return decide({ method: 'GET', path, query: '', peerAddress: '127.0.0.1', forwardedFor: '81.2.69.160', checksDone: true }, config, view);
}

test('retiring ledger entries are not expected content', async (t) => {
  const trust = await trustFor(setup());
  const e = trust.expected;
  t.deepEqual([...e.route('/v2')!.images.get('kops/pause')!.digests], [D2]);
  t.is(e.tagDigest('/v2', 'kops/pause', '1.0'), undefined, 'a tag of a retiring digest retires with it');
  t.is(e.tagDigest('/v2', 'kops/pause', '2.0'), D2);
  t.deepEqual([...e.route('/releases')!.files.keys()], ['new.txt']);
  t.true(e.isRetiring('/v2', `manifest:kops/pause:${D1}`));
  t.true(e.isRetiring('/v2', 'manifest:kops/pause:1.0-alias'));
  t.true(e.isRetiring('/releases', 'file:/releases/old.txt'));
  t.false(e.isRetiring('/releases', 'file:/releases/new.txt'));
});

test('a retiring object goes to the origin even where a mirror holds it; a kept one to the mirror', async (t) => {
  const config = setup();
  const trust = await trustFor(config);
  const answers = {
    [`eu-reg manifest:kops/pause:${D1}`]: present(D1),
    'eu-reg manifest:kops/pause:1.0': present(D1),
    [`eu-reg manifest:kops/pause:${D2}`]: present(D2),
    'eu-reg manifest:kops/pause:2.0': present(D2),
    'eu-files file:/releases/old.txt': present(),
    'eu-files file:/releases/new.txt': present(),
  };
  for (const path of [`/v2/kops/pause/manifests/${D1}`, '/v2/kops/pause/manifests/1.0', '/releases/old.txt']) {
    const d = go(config, trust, answers, path);
    t.like(d, { kind: 'redirect' }, path);
    if (d.kind !== 'redirect') continue;
    t.regex(d.mirror.name, /^origin-/, path);
    t.is(d.verdicts.find((v) => v.mirror.startsWith('eu-'))?.reason, 'retiring: the promoter is deleting it', path);
  }
  t.like(go(config, trust, answers, `/v2/kops/pause/manifests/${D2}`), { kind: 'redirect', mirror: { name: 'eu-reg' } });
  t.like(go(config, trust, answers, '/v2/kops/pause/manifests/2.0'), { kind: 'redirect', mirror: { name: 'eu-reg' } });
  t.like(go(config, trust, answers, '/releases/new.txt'), { kind: 'redirect', mirror: { name: 'eu-files' } });
});

test('what was retiring and no longer is (deleted by now) is named, for serve to drop its cached answers', (t) => {
  const content = (...retiring: string[]) => {
    const route: ExpectedRoute = { prefix: '/v2', type: 'oci', images: new Map(), files: new Map(), imagePrefixes: new Set(), retiring: new Set(retiring) };
    return new ExpectedContent(new Map([['/v2', route]]));
  };
  t.deepEqual(retiredSince(content(`manifest:a:${D1}`, 'manifest:a:1.0'), content('manifest:a:1.0')), [`manifest:a:${D1}`]);
  t.deepEqual(retiredSince(content(), content('manifest:a:1.0')), []);
});
