// The server memoises what a path names (decide's targets): every answer must be exactly the one
// decide gives without the memo, on the first request and on every repeat.
import test from 'ava';
import { decide, type RequestFacts, type Target } from '../../src/decision/decide.js';
import { TargetMemo } from '../../src/decision/target-memo.js';
import { LocationCache } from '../../src/geo/location.js';
import { compile } from '../helpers/config.js';

const CONFIG = `
mirrors:
  eu-files: { url: https://eu.files.example }
  us-files: { url: https://us.files.example }
  origin: { url: https://origin.example }
  eu-reg: { registry: https://eu.registry.example, repository: prod/images }
  us-reg: { registry: https://us.registry.example }
routes:
  - prefix: /bin
    regions: { Europe: eu-files }
    default: us-files
    origin: origin
  - prefix: /v2/
    regions: { Europe: eu-reg }
    default: us-reg
`;
const ALL_PRESENT = {
  health: () => ({ up: true }),
  availability: () => ({ state: 'present' as const, checkedAt: 0, contentLength: 42 }),
};
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PATHS = [
  '/bin/v1.31.0/kubectl',
  '/bin/v1.31.0/kubectl.sha256',
  '/bin/v1.31.0/kubectl.meta4',
  '/bin/a//b',
  '/bin/%2e%2e/etc',
  '/nowhere/x',
  '/v2/',
  '/v2/pause/manifests/3.10',
  `/v2/pause/manifests/${DIGEST}`,
  `/v2/pause/blobs/${DIGEST}`,
  '/v2/pause/tags/list',
  '/v2/Bad_Name/blobs/x',
  '/v2/_catalog',
];
const QUERIES = ['', 'n=10&last=a', 'mirrorlist', 'ns=registry.k8s.io'];

test('with the memo, every answer is the one decide gives without it, first time and again', (t) => {
  const config = compile(CONFIG);
  const targets = new TargetMemo<Target>();
  for (const round of [1, 2, 3]) {
    for (const path of PATHS) {
      for (const query of QUERIES) {
        for (const ip of ['81.2.69.160', '8.8.8.8']) {
          const facts: RequestFacts = { method: 'GET', path, query, peerAddress: ip };
          const memoised = decide(facts, config, ALL_PRESENT, new LocationCache(4), targets);
          t.deepEqual(memoised, decide(facts, config, ALL_PRESENT), `${path}?${query} from ${ip}, round ${round}`);
        }
      }
    }
  }
  t.true(targets.size > 0 && targets.size < PATHS.length, 'paths with answers kept; refusals and queries not');
});

test('another config starts the memo over: nothing from the old one answers', (t) => {
  const targets = new TargetMemo<Target>();
  const facts: RequestFacts = { method: 'GET', path: '/bin/tool', query: '', peerAddress: '81.2.69.160' };
  const config = compile(CONFIG);
  decide(facts, config, ALL_PRESENT, undefined, targets);
  const first = decide(facts, config, ALL_PRESENT, undefined, targets);
  t.is(targets.size, 1);
  const moved = compile(CONFIG.replace('https://eu.files.example', 'https://eu2.files.example'));
  decide(facts, moved, ALL_PRESENT, undefined, targets);
  const second = decide(facts, moved, ALL_PRESENT, undefined, targets);
  t.like(first, { kind: 'redirect', location: 'https://eu.files.example/tool' });
  t.like(second, { kind: 'redirect', location: 'https://eu2.files.example/tool' });
  t.is(targets.size, 1);
});

test('a bounded memo keeps at most its size', (t) => {
  const config = compile(CONFIG);
  const targets = new TargetMemo<Target>(4);
  for (let i = 0; i < 20; i++) for (const _ of [1, 2]) decide({ method: 'GET', path: `/bin/f${i}`, query: '', peerAddress: '192.0.2.1' }, config, ALL_PRESENT, undefined, targets);
  t.is(targets.size, 4);
});

test('a path is kept from its second request on: a flood of distinct paths keeps none', (t) => {
  const config = compile(CONFIG);
  const targets = new TargetMemo<Target>(4, 8);
  const ask = (path: string, checksDone?: boolean) => decide({ method: 'GET', path, query: '', peerAddress: '192.0.2.1', ...(checksDone && { checksDone }) }, config, ALL_PRESENT, undefined, targets);
  for (let i = 0; i < 100; i++) ask(`/bin/once-${i}`);
  t.is(targets.size, 0, 'each path asked for once');
  // A request's second pass, after its availability checks, is the same request.
  ask('/bin/checked');
  ask('/bin/checked', true);
  t.is(targets.size, 0);
  ask('/bin/checked');
  t.is(targets.size, 1, 'asked for again');
});
