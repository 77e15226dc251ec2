import test from 'ava';
import { frameKey, inclusiveSamples, isJavaScript, parsePerfScript } from '../../bench/perf-stacks.js';

// Two samples as `perf script` prints them for a Node process run with --perf-basic-prof: a
// header line each, frames innermost first, a blank line between. The second recurses.
const SCRIPT = `node 4242 [000] 100.000001:     500250 cpu-clock:
\tffffffff8f2a1b2c tcp_sendmsg+0x2b ([kernel.kallsyms])
\t7f3a00001234 JS:*end node:_http_outgoing:1034:45 (/tmp/perf-4242.map)
\t7f3a00005678 JS:*handler file:///work/main/dist/server/app.js:30:21 (/tmp/perf-4242.map)
\t55d0c0ffee00 uv__io_poll+0x4db (/usr/bin/node)

node 4242 [001] 100.000501:     500250 cpu-clock:
\t7f3a00009abc JS:^decide file:///work/main/dist/decision/decide.js:20:23 (/tmp/perf-4242.map)
\t7f3a0000def0 JS:~decide file:///work/main/dist/decision/decide.js:20:23 (/tmp/perf-4242.map)
\t7f3a00005678 JS:*handler file:///work/main/dist/server/app.js:30:21 (/tmp/perf-4242.map)
\t55d0c0ffee00 uv__io_poll+0x4db (/usr/bin/node)
`;

test('perf script text becomes one stack per sample, innermost frame first', (t) => {
  t.deepEqual(parsePerfScript(SCRIPT), [
    ['tcp_sendmsg', 'end node:_http_outgoing:1034', 'handler app.js:30', 'uv__io_poll'],
    ['decide decide.js:20', 'decide decide.js:20', 'handler app.js:30', 'uv__io_poll'],
  ]);
});

test('a JavaScript frame is one key whatever tier compiled it; native frames lose their offset', (t) => {
  t.is(frameKey('7f3a JS:*decide file:///work/main/dist/decision/decide.js:20:23 (/tmp/perf-1.map)'), 'decide decide.js:20');
  t.is(frameKey('7f3a JS:~decide file:///work/main/dist/decision/decide.js:20:23 (/tmp/perf-1.map)'), 'decide decide.js:20');
  t.is(frameKey('7f3a JS:* file:///work/main/dist/server/access-log.js:48:12 (/tmp/perf-1.map)'), '(anonymous) access-log.js:48');
  t.is(frameKey('55d0 v8::internal::String::SlowFlatten+0x1b8 (/usr/bin/node)'), 'v8::internal::String::SlowFlatten');
  t.is(frameKey('[unknown] ([unknown])'), '[unknown]');
  t.true(isJavaScript('decide decide.js:20'));
  t.true(isJavaScript('end node:_http_outgoing:1034'));
  t.false(isJavaScript('v8::internal::String::SlowFlatten'));
  t.false(isJavaScript('tcp_sendmsg'));
});

test('a frame counts once per sample it is in, however deep it recurses', (t) => {
  const counts = inclusiveSamples(parsePerfScript(SCRIPT));
  t.is(counts.get('decide decide.js:20'), 1);
  t.is(counts.get('handler app.js:30'), 2);
  t.is(counts.get('tcp_sendmsg'), 1);
});
