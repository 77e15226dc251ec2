// Prune grace (issue 9 item 4), the promoter's side: the ledger marking what will be deleted as
// retiring is written before anything is deleted, the deletions wait for the grace counted from
// that mark, and a run cut short converges on rerun (the mark keeps its time).
import test from 'ava';
import { executeDestination, graceEnds, markRetiring, type ActionResult, type DestinationWork } from '../../src/promoter/execute-destination.js';
import { cloneLedger, emptyLedger, imageLedger, parseLedger, serialiseLedger, type Ledger } from '../../src/promoter/ledger.js';
import type { Action } from '../../src/promoter/plan.js';
import { D1, D2 } from './fixtures.js';

const SHA = 'e'.repeat(64);
const RETRY = { attempts: 1, baseMs: 1, maxMs: 1 };

/** A file destination in memory: its objects, the ledgers written in order, and the order of events. */
function destination(before: Ledger, actions: Action[], failDelete = false) {
  const events: string[] = [];
  const ledgers: Ledger[] = [];
  const work: DestinationWork = {
    project: 'p',
    destination: 'd',
    actions,
    before,
    intent: (b) => cloneLedger(b),
    perform: async (run) =>
      run(actions, async (a) => {
        if (failDelete) throw new Error('store refused the delete');
        events.push(`delete ${a.name}`);
      }),
    after: (b, results: readonly ActionResult[]) => {
      const l = cloneLedger(b);
      for (const r of results) if (!r.error && r.action.kind === 'delete-file') l.files.delete(r.action.name);
      return l;
    },
    writeLedger: async (text) => {
      const l = parseLedger(text, { project: 'p', destination: 'd' });
      events.push(`ledger retiring=${[...(l.retiring ?? [])].map(([k]) => k).join(',')} files=${[...l.files.keys()].join(',')}`);
      ledgers.push(l);
    },
  };
  return { work, events, ledgers };
}

function twoFiles(): Ledger {
  const l = emptyLedger();
  l.files.set('keep.txt', SHA).set('old.txt', SHA);
  return l;
}

const DELETE: Action = { kind: 'delete-file', name: 'old.txt', sha256: SHA };

test('the retiring ledger is published first, the delete waits the grace, then the final ledger', async (t) => {
  const { work, events, ledgers } = destination(twoFiles(), [DELETE]);
  const waits: number[] = [];
  const started = Date.now();
  let deletedAt = 0;
  const results = await executeDestination(work, {
    parallel: 2,
    retry: RETRY,
    // Long enough that a loaded machine cannot use it all up writing the retiring ledger (at
    // 300 ms it once did, and then nothing was left to wait).
    pruneGraceMs: 1500,
    onGrace: (_d, ms) => waits.push(ms),
    onResult: () => {
      deletedAt = Date.now();
    },
  });
  t.deepEqual(
    results.map((r) => r.error),
    [undefined],
  );
  t.deepEqual(events, ['ledger retiring=old.txt files=keep.txt,old.txt', 'delete old.txt', 'ledger retiring= files=keep.txt']);
  t.true(deletedAt - started >= 1490, `deleted after ${deletedAt - started}ms`);
  t.is(waits.length, 1);
  const since = Date.parse(ledgers[0]!.retiring!.get('old.txt')!);
  t.true(since >= started - 5 && since <= deletedAt);
});

test('a run cut short converges: the mark keeps its time, and the rerun waits only what is left', async (t) => {
  // Run 1 publishes the retiring ledger at t0, then the delete fails (as a crash would leave it).
  let clock = Date.parse('2026-11-30T12:00:00.000Z');
  const now = () => clock;
  const first = destination(twoFiles(), [DELETE], true);
  const r1 = await executeDestination(first.work, { parallel: 1, retry: RETRY, pruneGraceMs: 0, now });
  t.regex(r1[0]!.error ?? '', /store refused the delete/);
  const kept = first.ledgers.at(-1)!;
  t.true(kept.files.has('old.txt'), 'a failed delete stays in the ledger');
  t.is(kept.retiring?.get('old.txt'), '2026-11-30T12:00:00.000Z', 'and stays retiring');

  // The rerun 10 minutes later with a 10 minute grace: nothing left to wait; it deletes.
  clock += 10 * 60_000;
  const second = destination(parseLedger(serialiseLedger(kept, 'p', 'd')), [DELETE]);
  const waits: number[] = [];
  await executeDestination(second.work, { parallel: 1, retry: RETRY, pruneGraceMs: 10 * 60_000, now, onGrace: (_d, ms) => waits.push(ms) });
  t.deepEqual(waits, []);
  t.deepEqual(second.events, ['delete old.txt', 'ledger retiring= files=keep.txt']);

  // A rerun that no longer deletes it (the manifest lists it again) drops the mark: expected again.
  const third = destination(parseLedger(serialiseLedger(kept, 'p', 'd')), [{ kind: 'copy-file', name: 'new.txt', sha256: SHA, bytes: 1 }]);
  third.work.intent = (b) => {
    const l = cloneLedger(b);
    l.files.set('new.txt', SHA);
    return l;
  };
  await executeDestination(third.work, { parallel: 1, retry: RETRY, now });
  t.is(third.ledgers[0]!.retiring?.size, 0);
});

test('markRetiring: a deleted image retires its tags; a tag delete only the tag; the grace ends after the latest mark', (t) => {
  const before = emptyLedger();
  imageLedger(before, 'a').digests.add(D1).add(D2);
  imageLedger(before, 'a').tags.set('v1', D1).set('latest', D1).set('v2', D2).set('dev', D2);
  before.retiring = new Map([['a:dev', '2026-11-30T11:00:00.000Z']]);
  const now = Date.parse('2026-11-30T12:00:00.000Z');
  const deletes: Action[] = [
    { kind: 'delete-image', name: 'a', digest: D1 },
    { kind: 'delete-tag', name: 'a', tag: 'dev', digest: D2 },
  ];
  const marked = markRetiring(cloneLedger(before), before, deletes, now);
  t.deepEqual(Object.fromEntries(marked.retiring!), {
    [`a@${D1}`]: '2026-11-30T12:00:00.000Z',
    'a:v1': '2026-11-30T12:00:00.000Z',
    'a:latest': '2026-11-30T12:00:00.000Z',
    'a:dev': '2026-11-30T11:00:00.000Z',
  });
  t.is(graceEnds(marked, 1000), now + 1000);
  t.is(graceEnds(emptyLedger(), 1000), Number.NEGATIVE_INFINITY);
  // It round-trips through the ledger's JSON.
  const text = serialiseLedger(marked, 'p', 'd');
  t.deepEqual(Object.fromEntries(parseLedger(text).retiring!), Object.fromEntries(marked.retiring!));
});

test('a ledger whose retiring marks name nothing in it, or no time, is refused', (t) => {
  const base = { version: 1, project: 'p', destination: 'd', images: { a: { digests: [D1], tags: { v1: D1 } } }, files: {} };
  t.is(parseLedger(JSON.stringify({ ...base, retiring: { [`a@${D1}`]: '2026-11-30T12:00:00.000Z', 'a:v1': '2026-11-30T12:00:00Z' } })).retiring?.size, 2);
  t.throws(() => parseLedger(JSON.stringify({ ...base, retiring: { [`a@${D2}`]: '2026-11-30T12:00:00.000Z' } })), {
    message: /invalid ledger at "retiring"\."a@sha256:2+": names no file, image digest \(name@digest\) or tag \(name:tag\) of this ledger/,
  });
  t.throws(() => parseLedger(JSON.stringify({ ...base, retiring: { 'a:v1': 'yesterday' } })), { message: /invalid ledger at "retiring"\."a:v1": expected a time/ });
});
