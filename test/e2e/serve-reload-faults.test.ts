// A real `serve` process reloading files that once killed it (an unresolved alias, an anchor
// used 101 times), by file change and by SIGHUP, while requests keep flowing: it stays up, a bad
// file is reported at file:line:column, and the previous config keeps serving.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { writeConfig, EU_US_BINARY_CONFIG } from '../helpers/config.js';
import { freePort } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';

const GOOD = EU_US_BINARY_CONFIG;
const TYPO = GOOD.replace('default: us', 'default: *typo');
/** One probe block shared by `count` mirrors; they are probed, so they live on a loopback port nothing listens on. */
function shared(count: number, port: number): string {
  let text = `mirrors:\n  us: { url: "http://127.0.0.1:${port}/us", probe: &probe { path: /healthz, intervalSeconds: 3600 } }\n`;
  for (let i = 0; i < count; i++) text += `  m${i}: { url: "http://127.0.0.1:${port}/m${i}", probe: *probe }\n`;
  return `${text}routes:\n  - prefix: /bin\n    default: m${count - 1}\n`;
}

/** Requests in a loop until stopped: counts answers that are not the expected redirect, and network errors. */
function traffic(server: RedirectorProcess) {
  let stop = false;
  let answered = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (!stop) {
      try {
        const response = await fetch(`${server.url}/bin/tool`, { redirect: 'manual' });
        answered++;
        if (response.status !== 302) failures.push(String(response.status));
      } catch (error) {
        failures.push((error as Error).message);
        if (server.child.exitCode !== null || server.child.signalCode !== null) return;
      }
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return { answered, failures };
    },
  };
}

for (const how of ['SIGHUP', 'file change'] as const) {
  test(`serve survives reloading an unresolved alias and accepts an anchor used 101 times (${how})`, async (t) => {
    const file = writeConfig(GOOD);
    const server = await startRedirectorProcess(file, how === 'SIGHUP' ? ['--no-watch'] : []);
    t.teardown(() => server.stop());
    const load = traffic(server);
    const reload = async (text: string, expect: RegExp) => {
      const mark = server.stderr().length;
      writeFileSync(file, text);
      if (how === 'SIGHUP') server.child.kill('SIGHUP');
      return server.waitForLog(expect, 20_000, mark).then(() => server.stderr().slice(mark));
    };
    const rejected = await reload(TYPO, /config reload rejected[^\n]*/);
    t.true(rejected.includes(`${file}:7:14: unknown alias *typo`), rejected);
    await reload(shared(101, await freePort()), /config reloaded/);
    const after = await fetch(`${server.url}/bin/tool`, { redirect: 'manual' });
    t.is(after.headers.get('x-artifact-mirror'), 'm100');
    await reload(TYPO, /config reload rejected/);
    const { answered, failures } = await load.stop();
    t.deepEqual(failures, []);
    t.true(answered > 0);
    t.is(server.child.exitCode, null, 'still running');
    const still = await fetch(`${server.url}/bin/tool`, { redirect: 'manual' });
    t.is(still.headers.get('x-artifact-mirror'), 'm100', 'the last good config keeps serving');
  });
}

test('serve refuses to start on an unresolved alias, with file:line:column', async (t) => {
  const { main } = await import('../../src/cli.js');
  let err = '';
  const code = await main(['serve', '--config', writeConfig(TYPO), '--port', '0'], { stdout: () => {}, stderr: (s) => (err += s) });
  t.is(code, 1);
  t.regex(err, /config\.yaml:7:14: unknown alias \*typo/);
  t.regex(err, /cannot start/);
});
