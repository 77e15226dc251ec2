// The CLI as users run it: a real process for serve (signals, exit codes), in-process for the rest.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

const GOOD = `
mirrors:
  eu: { url: https://eu.example }
  us: { url: https://us.example }
routes:
  - prefix: /bin
    regions: { Europe: eu }
    default: us
`;

test('help lists the commands; an unknown command is a usage error', async (t) => {
  const help = await run(['--help']);
  t.is(help.code, 0);
  for (const command of ['serve', 'validate', 'explain', 'promote']) t.regex(help.out, new RegExp(`artifact-serving ${command}`));
  t.is((await run(['frobnicate'])).code, 2);
  for (const command of ['serve', 'validate', 'explain']) {
    const sub = await run([command, '--help']);
    t.is(sub.code, 0, command);
    t.regex(sub.out, /^Usage: artifact-serving/);
  }
});

test('validate: ok, or every problem with file:line:column and exit 1', async (t) => {
  const good = writeConfig(GOOD);
  const ok = await run(['validate', good]);
  t.is(ok.code, 0);
  t.regex(ok.out, /ok \(1 route, 2 mirrors\)/);
  const bad = writeConfig(GOOD.replace('default: us', 'default: usa').replace('Europe', 'Europa'));
  const result = await run(['validate', bad]);
  t.is(result.code, 1);
  t.true(result.err.includes(`${bad}:7:16: unknown region "Europa"`), result.err);
  t.true(result.err.includes(`${bad}:8:14: mirror "usa" is not defined under mirrors: (did you mean "us"?)`), result.err);
  t.regex(result.err, /2 problems/);
});

test('explain prints the chain: client, candidates, decision', async (t) => {
  const file = writeConfig(GOOD);
  const result = await run(['explain', '--config', file, '--ip', '81.2.69.160', '/bin/tool']);
  t.is(result.code, 0);
  t.regex(result.out, /country\s+GB/);
  t.regex(result.out, /continent EU/);
  t.regex(result.out, /chosen\s+eu\s+\[region Europe\]/);
  t.regex(result.out, /alternative us\s+\[region default\]/);
  t.regex(result.out, /decision\s+302 -> https:\/\/eu\.example\/tool/);
  const down = await run(['explain', '--config', file, '--ip', '81.2.69.160', '--down', 'eu', '/bin/tool']);
  t.regex(down.out, /skipped\s+eu\s+\[region Europe\]\s+down: marked down with --down/);
  t.regex(down.out, /decision\s+302 -> https:\/\/us\.example\/tool/);
  const json = await run(['explain', '--config', file, '--ip', '8.8.8.8', '--json', '/bin/tool']);
  t.is((JSON.parse(json.out) as { mirror: string }).mirror, 'us');
});

test('serve refuses to start on a bad config, listing the problems', async (t) => {
  const bad = writeConfig('routes: []\nbogus: 1\n');
  const result = await run(['serve', '--config', bad, '--port', '0']);
  t.is(result.code, 1);
  t.regex(result.err, /:2:1: unknown key "bogus"/);
  t.regex(result.err, /cannot start/);
});

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
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const log = join(mkdtempSync(join(tmpdir(), 'access-log-')), 'access.jsonl');
  const file = writeConfig(`trustedProxies: [127.0.0.1/32]\n${GOOD}`);
  const server = await startRedirectorProcess(file, ['--no-watch', '--access-log', log]);
  t.teardown(() => server.stop());
  await fetch(`${server.url}/bin/tool`, { redirect: 'manual', headers: { 'X-Forwarded-For': '81.2.69.160', 'User-Agent': 'test-agent' } });
  await fetch(`${server.url}/v2/Bad/manifests/x`, { redirect: 'manual' });
  await server.stop();
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.is(lines.length, 2);
  t.like(lines[0], { method: 'GET', path: '/bin/tool', status: 302, ip: '81.2.69.160', country: 'GB', continent: 'EU', mirror: 'eu', region: 'Europe', ua: 'test-agent' });
  t.is(typeof lines[0]!.time, 'number');
  t.is(typeof lines[0]!.ms, 'number');
  t.like(lines[1], { path: '/v2/Bad/manifests/x', status: 400 });
});

test('usage mistakes get a one-line reason and exit 2, never a stack trace', async (t) => {
  const unknown = await run(['serve', '--bogus']);
  t.is(unknown.code, 2);
  t.regex(unknown.err, /^Unknown option '--bogus'/);
  t.regex(unknown.err, /artifact-serving serve --help/);
  const badIp = await run(['explain', '--config', writeConfig(GOOD), '--ip', 'nope', '/bin/x']);
  t.is(badIp.code, 2);
  t.is(badIp.err, '--ip: "nope" is not an IPv4 or IPv6 address\n');
  const noConfig = await run(['validate', '/nonexistent/config.yaml']);
  t.is(noConfig.code, 1);
  t.regex(noConfig.err, /^\/nonexistent\/config\.yaml:1:1: cannot read config: ENOENT/);
});
