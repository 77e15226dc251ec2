// Metalink and the JSON mirror list, from a real decision.
import test from 'ava';
import { decide } from '../../src/decision/decide.js';
import { ALL_UP, type MirrorStateView } from '../../src/mirrors/state-view.js';
import { metalink, mirrorListJson } from '../../src/server/mirror-list.js';
import { compile } from '../helpers/config.js';

const config = compile(`
mirrors:
  eu: { url: https://eu.example }
  origin: { url: https://origin.example }
routes:
  - prefix: /files
    regions: { Europe: eu }
    default: eu
    origin: origin
`);

const listFor = (state: MirrorStateView) => {
  const decision = decide({ method: 'GET', path: '/files/v1/tool.meta4', query: '', peerAddress: '81.2.69.160', checksDone: true }, config, state);
  if (decision.kind !== 'mirrorlist') throw new Error(JSON.stringify(decision));
  return decision;
};

test('Metalink has <size> when an availability check recorded it, and none otherwise', (t) => {
  const sized = listFor({ ...ALL_UP, availability: () => ({ state: 'present', contentLength: 3145745, checkedAt: 0 }) });
  const xml = metalink(sized, new Date(0));
  t.regex(xml, /<file name="tool">\n {4}<size>3145745<\/size>\n/);
  t.is((JSON.parse(mirrorListJson(sized)) as { size?: number }).size, 3145745);
  t.notRegex(metalink(listFor(ALL_UP), new Date(0)), /<size>/);
});
