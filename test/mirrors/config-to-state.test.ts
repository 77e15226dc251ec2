import test from 'ava';
import { applyReload, createMirrorState, probeTargets } from '../../src/mirrors/config-to-state.js';
import { compile } from '../helpers/config.js';

const config = (euUrl: string) =>
  compile(`
mirrors:
  eu: { url: ${euUrl}, probe: { path: /health, intervalSeconds: 60 } }
  us: { url: https://us.example }
  reg: { registry: https://reg.example }
routes:
  - prefix: /f
    regions: { Europe: eu }
    default: us
    origin: us
  - prefix: /v2/
    default: reg
`);

test('probe targets: configured bucket probes and registries by default', (t) => {
  const targets = probeTargets(config('https://eu.example'));
  t.deepEqual(
    targets.map((p) => [p.name, p.probeUrl]),
    [
      ['eu', 'https://eu.example/health'],
      ['reg', 'https://reg.example/v2/'],
    ],
  );
  t.is(targets[0]!.intervalMs, 60_000);
});

test('a reload forgets what was learned about a mirror that now points elsewhere', async (t) => {
  const before = config('http://127.0.0.1:9/eu');
  const state = createMirrorState(before);
  t.teardown(() => state.stop());
  // Learn something about both mirrors (the addresses refuse connections: an error answer is cached).
  await state.ensureChecked(
    [
      { mirror: 'eu', key: 'file:/f/x', url: 'http://127.0.0.1:9/eu/x', kind: 'binary' },
      { mirror: 'us', key: 'file:/f/x', url: 'http://127.0.0.1:9/us/x', kind: 'binary' },
    ],
    5000,
  );
  t.not(state.availability('eu', 'file:/f/x'), undefined);
  applyReload(state, before, config('http://127.0.0.1:9/eu-new'));
  t.is(state.availability('eu', 'file:/f/x'), undefined);
  t.not(state.availability('us', 'file:/f/x'), undefined);
});

test('a reload forgets what was learned about a blob bucket whose layout changed', async (t) => {
  const bucket = (layout: string) =>
    compile(`
mirrors:
  bucket: { blobs: http://127.0.0.1:9/b, layout: "${layout}" }
  reg: { registry: http://127.0.0.1:9, probe: false }
routes:
  - prefix: /v2/
    default: [bucket, reg]
`);
  const before = bucket('containers/images/{digest}');
  const state = createMirrorState(before);
  t.teardown(() => state.stop());
  const digest = `sha256:${'0'.repeat(64)}`;
  await state.ensureChecked([{ mirror: 'bucket', key: `blob:x@${digest}`, url: `http://127.0.0.1:9/b/containers/images/${digest}`, kind: 'blob' }], 5000);
  t.not(state.availability('bucket', `blob:x@${digest}`), undefined);
  applyReload(state, before, bucket('containers/images/{digest}'));
  t.not(state.availability('bucket', `blob:x@${digest}`), undefined, 'same layout: kept');
  applyReload(state, before, bucket('blobs/{hex}'));
  t.is(state.availability('bucket', `blob:x@${digest}`), undefined);
});
