// `serve` as a real process: SIGHUP reloads under traffic, the access log flushed on shutdown.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { writeConfig, EU_US_BINARY_CONFIG } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const GOOD = EU_US_BINARY_CONFIG;

test('serve: SIGHUP reloads a valid config without dropping requests, and keeps the old one on an invalid config', async (t) => {
  const file = writeConfig(GOOD);
  const server = await startRedirectorProcess(file, ['--no-watch']);
  t.teardown(() => server.stop());
  const mirrorFor = async () => {
    const response = await fetch(`${server.url}/bin/tool`, { redirect: 'manual' });
    return `${response.status} ${response.headers.get('x-artifact-mirror')}`;
  };
  t.is(await mirrorFor(), '302 us');

  // Requests keep flowing while the config is replaced and reloaded several times.
  let stop = false;
  let failures = 0;
  let answered = 0;
  const traffic = (async () => {
    while (!stop && answered < 5000) {
      const result = await mirrorFor();
      answered++;
      if (!result.startsWith('302 ')) failures++;
    }
  })();
  for (let i = 0; i < 5; i++) {
    const mark = server.stderr().length;
    writeFileSync(file, i % 2 === 0 ? GOOD.replace('default: us', 'default: eu') : GOOD);
    server.child.kill('SIGHUP');
    await server.waitForLog(/config reloaded/, 15_000, mark);
  }
  stop = true;
  await traffic;
  t.is(failures, 0);
  t.true(answered > 0);
  t.is(await mirrorFor(), '302 eu');

  const mark = server.stderr().length;
  writeFileSync(file, GOOD.replace('default: us', 'default: nowhere'));
  server.child.kill('SIGHUP');
  await server.waitForLog(/config reload rejected/, 15_000, mark);
  t.regex(server.stderr().slice(mark), /mirror \\"nowhere\\" is not defined/);
  t.is(await mirrorFor(), '302 eu');
});

test('serve writes one JSON access-log line per request, flushed on shutdown', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const log = join(tempDir('access-log-'), 'access.jsonl');
  const file = writeConfig(`trustedProxies: [127.0.0.1/32]\n${GOOD}`);
  const server = await startRedirectorProcess(file, ['--no-watch', '--access-log', log]);
  t.teardown(() => server.stop());
  await fetch(`${server.url}/bin/tool`, { redirect: 'manual', headers: { 'X-Forwarded-For': '81.2.69.160', 'User-Agent': 'test-agent' } });
  await fetch(`${server.url}/v2/Bad/manifests/x`, { redirect: 'manual' });
  await server.stop();
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.is(lines.length, 2);
  t.like(lines[0], { method: 'GET', path: '/bin/tool', status: 302, ip: '81.2.69.160', country: 'GB', continent: 'EU', mirror: 'eu', region: 'Europe', ua: 'test-agent' });
  t.is(typeof lines[0]!.time, 'number');
  t.is(typeof lines[0]!.ms, 'number');
  t.like(lines[1], { path: '/v2/Bad/manifests/x', status: 400 });
});
