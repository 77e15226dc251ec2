// Promotion times in the ledger (issue 9, freshness): `promote` stamps each new or changed entry
// when its final ledger is written; kept entries keep their time; ledgers without stamps load.
import test from 'ava';
import { executeDestination, type ActionResult, type DestinationWork } from '../../src/promoter/execute-destination.js';
import { cloneLedger, emptyLedger, imageLedger, parseLedger, serialiseLedger, stampPromoted, type Ledger } from '../../src/promoter/ledger.js';
import type { Action } from '../../src/promoter/plan.js';
import { D1, D2 } from './fixtures.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const T0 = '2026-11-30T10:00:00.000Z';
const NOW = Date.parse('2026-11-30T12:00:00.000Z');

function run(before: Ledger, actions: Action[]): Promise<Ledger[]> {
  const written: Ledger[] = [];
  const work: DestinationWork = {
    project: 'p',
    destination: 'd',
    actions,
    before,
    intent: (b) => {
      const l = cloneLedger(b);
      for (const a of actions) if (a.kind === 'copy-file' || a.kind === 'replace-file') l.files.set(a.name, a.sha256);
      return l;
    },
    perform: (r) => r(actions, async () => undefined),
    after: (b, results: readonly ActionResult[]) => {
      const l = cloneLedger(b);
      for (const res of results) if (!res.error && (res.action.kind === 'copy-file' || res.action.kind === 'replace-file')) l.files.set(res.action.name, res.action.sha256);
      return l;
    },
    writeLedger: async (text) => void written.push(parseLedger(text, { project: 'p', destination: 'd' })),
  };
  return executeDestination(work, { parallel: 1, retry: { attempts: 1, baseMs: 1, maxMs: 1 }, now: () => NOW }).then(() => written);
}

test('promote stamps new and replaced files with the time of the final ledger; kept files keep theirs', async (t) => {
  const before = emptyLedger();
  before.files.set('kept.txt', A).set('replaced.txt', A).set('old-unstamped.txt', A);
  before.promoted = new Map([
    ['kept.txt', T0],
    ['replaced.txt', T0],
  ]);
  const ledgers = await run(parseLedger(serialiseLedger(before, 'p', 'd')), [
    { kind: 'copy-file', name: 'new.txt', sha256: B, bytes: 1 },
    { kind: 'replace-file', name: 'replaced.txt', sha256: B, bytes: 1 },
  ] as Action[]);
  const intent = ledgers[0]!;
  t.false(intent.promoted!.has('new.txt'), 'the intent ledger does not claim a promotion that has not happened');
  const final = ledgers.at(-1)!;
  t.deepEqual(Object.fromEntries(final.promoted!), { 'kept.txt': T0, 'new.txt': new Date(NOW).toISOString(), 'replaced.txt': new Date(NOW).toISOString() });
});

test('image entries: a new digest and a moved tag are stamped, an unchanged tag keeps its time', (t) => {
  const before = emptyLedger();
  imageLedger(before, 'pause').digests.add(D1);
  imageLedger(before, 'pause').tags.set('v1', D1).set('latest', D1);
  before.promoted = new Map([
    [`pause@${D1}`, T0],
    ['pause:v1', T0],
    ['pause:latest', T0],
  ]);
  const after = cloneLedger(before);
  imageLedger(after, 'pause').digests.add(D2);
  imageLedger(after, 'pause').tags.set('latest', D2);
  const stamp = new Date(NOW).toISOString();
  t.deepEqual(Object.fromEntries(stampPromoted(before, after, NOW)), { [`pause@${D1}`]: T0, [`pause@${D2}`]: stamp, 'pause:v1': T0, 'pause:latest': stamp });
});

test('a ledger without promotion times loads (version 1, as before); one with them round-trips', (t) => {
  const old = `{"version":1,"project":"p","destination":"d","images":{},"files":{"a.txt":"${A}"}}`;
  t.is(parseLedger(old).promoted?.size, 0);
  const l = parseLedger(old);
  l.promoted = new Map([['a.txt', T0]]);
  const text = serialiseLedger(l, 'p', 'd');
  t.regex(text, /"version": 1/);
  t.is(parseLedger(text).promoted?.get('a.txt'), T0);
  t.throws(() => parseLedger(text.replace(T0, 'yesterday')), { message: /invalid ledger at "promoted"\."a\.txt": expected a time/ });
});
