import test from 'ava';
import { emptyLedger, imageLedger, ledgerObjectName, parseLedger, serialiseLedger } from '../../src/promoter/ledger.js';
import { D1 } from './fixtures.js';

test('round trips, sorted and stable', (t) => {
  const l = emptyLedger();
  imageLedger(l, 'b').digests.add(D1);
  imageLedger(l, 'a').tags.set('v1', D1);
  l.files.set('z', 'f'.repeat(64)).set('a', 'e'.repeat(64));
  const text = serialiseLedger(l, 'p', 'dest');
  t.is(serialiseLedger(parseLedger(text), 'p', 'dest'), text);
  t.deepEqual(Object.keys(JSON.parse(text).files), ['a', 'z']);
  t.throws(() => parseLedger('{"version":2}'));
  t.is(ledgerObjectName('files/k8s-staging-x'), '.artifact-serving/ledger/files--k8s-staging-x.json');
});

test('a ledger naming anything outside its destination, or another project, is refused whole', (t) => {
  const good = (files: Record<string, string>, images: Record<string, unknown> = {}) => JSON.stringify({ version: 1, project: 'p', destination: 'd', images, files });
  const expect = { project: 'p', destination: 'd' };
  t.is(parseLedger(good({ 'a/b': 'e'.repeat(64) }), expect).files.size, 1);
  for (const name of ['../victim.txt', 'a/../../x', '/etc/passwd', 'a//b', '%2e%2e/x']) {
    t.throws(() => parseLedger(good({ [name]: 'e'.repeat(64) }), expect), { message: /invalid ledger at "files".*file name with .*: it would leave the destination; refusing to trust it/ }, name);
  }
  t.throws(() => parseLedger(good({}, { '../other': { digests: [], tags: {} } }), expect), { message: /expected an image name/ });
  t.throws(() => parseLedger(good({}, { a: { digests: ['sha256:x'], tags: {} } }), expect), { message: /expected sha256:/ });
  t.throws(() => parseLedger(good({}, { a: { digests: [], tags: { '../t': D1 } } }), expect), { message: /expected a tag/ });
  t.throws(() => parseLedger(good({}), { project: 'q', destination: 'd' }), { message: /ledger belongs to project p at d, not q at d/ });
  t.throws(() => parseLedger('{', expect), { message: /invalid ledger: .*refusing to trust it/ });
});
