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
