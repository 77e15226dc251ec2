// The CLI as users run it, in-process; serve as a real process (signals) is in test/e2e/serve-process.test.ts.
import test from 'ava';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';

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
