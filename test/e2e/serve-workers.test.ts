// `serve --workers 2` as a real process: both workers answer, /metrics adds up every worker's
// figures, a reload (SIGHUP) reaches every worker and a bad one is reported once while all keep
// serving, and a killed worker is restarted. (SIGTERM under keep-alive load: serve-shutdown.test.ts.)
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { writeConfig, EU_US_BINARY_CONFIG } from '../helpers/config.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

/** One request on a connection of its own (so the primary hands each to the next worker). */
function get(url: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject).end();
  });
}

/**
 * The pids of the workers that logged "worker listening" (in order), once `count` have: each
 * process writes its own lines, so the primary's "listening on" can come before a worker's.
 */
async function workerPids(server: RedirectorProcess, count: number): Promise<number[]> {
  await server.waitForLog(new RegExp(`("msg":"worker listening"[\\s\\S]*){${count}}`), 60_000);
  return [...server.stderr().matchAll(/^.*"msg":"worker listening".*$/gm)].map((m) => JSON.parse(m[0]).pid as number);
}

/**
 * Which workers answer `count` requests on fresh connections, sorted: which one answers first
 * depends on scheduling (t.deepEqual compares a Set's order too).
 */
async function answeringPids(server: RedirectorProcess, count = 12): Promise<number[]> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) pids.add((JSON.parse((await get(`${server.url}/readyz`)).body) as { pid: number }).pid);
  return sorted(pids);
}

function sorted(pids: Iterable<number>): number[] {
  return [...pids].sort((a, b) => a - b);
}

async function locations(server: RedirectorProcess, count = 12): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add((await get(`${server.url}/bin/tool`)).location ?? 'none');
  return seen;
}

function metric(text: string, line: RegExp): number | undefined {
  const match = line.exec(text);
  return match ? Number(match[1]) : undefined;
}

test('both workers answer, /metrics adds up every worker, and the primary writes one access log', async (t) => {
  const accessLog = join(tempDir('serve-workers-'), 'access.log');
  const server = await startRedirectorProcess(writeConfig(EU_US_BINARY_CONFIG), ['--workers', '2', '--access-log', accessLog]);
  t.teardown(() => server.stop());
  const pids = await workerPids(server, 2);
  t.is(pids.length, 2, server.stderr());
  t.deepEqual(await answeringPids(server), sorted(pids), 'each worker answers some connections');
  t.deepEqual(await locations(server, 30), new Set(['https://us.example/tool']));
  // Whichever worker is asked, the count covers both workers' answers.
  for (let i = 0; i < 2; i++) {
    const text = (await get(`${server.url}/metrics`)).body;
    t.is(metric(text, /^artifact_requests_total\{type="binary",status="302",mirror="us",region="default"\} (\d+)$/m), 30, text);
  }
  // Every line whole, from both workers, once the primary has exited.
  await server.stop();
  const lines = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean);
  t.is(lines.length, 30);
  for (const line of lines) t.like(JSON.parse(line), { path: '/bin/tool', status: 302, mirror: 'us' });
});

test('a SIGHUP reload reaches every worker; a bad one is reported once and all keep serving', async (t) => {
  const file = writeConfig(EU_US_BINARY_CONFIG);
  const server = await startRedirectorProcess(file, ['--workers', '2', '--no-watch']);
  t.teardown(() => server.stop());
  const pids = new Set(await workerPids(server, 2));

  writeFileSync(file, EU_US_BINARY_CONFIG.replace('default: us', 'default: eu'));
  let from = server.stderr().length;
  server.child.kill('SIGHUP');
  await server.waitForLog(/"msg":"config reloaded"/, 15_000, from);
  // The primary sent the text to both; each compiles it as soon as it reads the message.
  const deadline = performance.now() + 15_000;
  let seen = await locations(server);
  while (seen.has('https://us.example/tool') && performance.now() < deadline) seen = await locations(server);
  t.deepEqual(seen, new Set(['https://eu.example/tool']), 'every worker serves the new config');

  writeFileSync(file, EU_US_BINARY_CONFIG.replace('default: us', 'default: *typo'));
  from = server.stderr().length;
  server.child.kill('SIGHUP');
  const problem = await server.waitForLog(/config\.yaml:\d+:\d+: unknown alias \*typo[^"]*/, 15_000, from);
  t.deepEqual(await locations(server, 20), new Set(['https://eu.example/tool']), 'the previous config keeps serving');
  t.deepEqual(await answeringPids(server), sorted(pids), 'no worker died');
  const reported = server
    .stderr()
    .slice(from)
    .split('\n')
    .filter((line) => line.includes('config reload rejected'));
  t.is(reported.length, 1, `reported once, by the primary: ${problem}`);
  const text = (await get(`${server.url}/metrics`)).body;
  t.is(metric(text, /^artifact_config_reloads_total\{result="ok"\} (\d+)$/m), 1, text);
  t.is(metric(text, /^artifact_config_reloads_total\{result="invalid"\} (\d+)$/m), 1, text);
  t.is(metric(text, /^artifact_availability_purges_total\{scope="all"\} (\d+)$/m), 2, 'one count per SIGHUP, not per worker');
});

test('a killed worker is restarted and serves again', async (t) => {
  const server = await startRedirectorProcess(writeConfig(EU_US_BINARY_CONFIG), ['--workers', '2']);
  t.teardown(() => server.stop());
  const [victim, survivor] = await workerPids(server, 2);
  const from = server.stderr().length;
  process.kill(victim!, 'SIGKILL');
  await server.waitForLog(/"msg":"worker died; restarting it"/, 15_000, from);
  // Meanwhile the other worker answers every new connection.
  t.deepEqual(await locations(server, 6), new Set(['https://us.example/tool']));
  const pids = await workerPids(server, 3);
  t.is(pids.length, 3);
  const replacement = pids[2]!;
  t.notThrows(() => process.kill(survivor!, 0));
  t.deepEqual(await answeringPids(server), sorted([survivor!, replacement]), 'the survivor and the new worker answer');
});

test('serve --workers refuses a bad count', async (t) => {
  await t.throwsAsync(startRedirectorProcess(writeConfig(EU_US_BINARY_CONFIG), ['--workers', 'many']), { message: /--workers takes a number from 1 to 256, or auto/ });
});
