// What the access log records for each kind of answer, behind a trusted proxy: the client's
// address and country (from X-Forwarded-For), never the proxy's, so `report` counts it right.
import test from 'ava';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import { accessLogLines, openAccessLog, type AccessLogEntry } from '../../src/server/access-log.js';

const accessLogLine = accessLogLines();
import { createRedirectorServer } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { compile } from '../helpers/config.js';

const CONFIG = `
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-reg: { registry: https://eu.registry.example }
  us-reg: { registry: https://us.registry.example }
  eu-files: { url: https://eu.files.example }
  us-files: { url: https://us.files.example }
routes:
  - prefix: /v2/
    regions: { Europe: eu-reg }
    default: us-reg
  - prefix: /bin
    regions: { Europe: eu-files }
    default: us-files
`;

test('every answer is logged with the forwarded client address and country', async (t) => {
  const entries: AccessLogEntry[] = [];
  const config = compile(CONFIG);
  const holder = new ConfigHolder('unused.yaml', config);
  const server = createRedirectorServer({ holder, state: NO_CHECKS, metrics: createMetrics(), accessLog: { write: (e) => entries.push(e), flush: () => {} } });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const paths = ['/v2/', '/bin/tool?mirrorlist', '/bin/tool.meta4', '/bin/tool', '/v2/pause/manifests/3.10', '/v2/_catalog'];
    for (const path of paths) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual', headers: { 'X-Forwarded-For': '81.2.69.160' } });
      await response.arrayBuffer();
    }
    t.deepEqual(
      entries.map((e) => [e.path, e.ip, e.country, e.continent]),
      paths.map((p) => [p.replace(/\?.*/, ''), '81.2.69.160', 'GB', 'EU']),
    );
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a log line is exactly what JSON.stringify writes, whatever the client sent', (t) => {
  const base: AccessLogEntry = { time: 1_764_000_000_123, method: 'GET', path: '/bin/kubectl', status: 302, ip: '81.2.69.160', ms: 0.125 };
  const entries: AccessLogEntry[] = [
    base,
    { ...base, country: 'GB', continent: 'EU', cloud: 'aws:eu-west-2', mirror: 'eu-files', region: 'Europe', bytes: 1234, ua: 'containerd/1.7.2' },
    { ...base, country: undefined, mirror: undefined, ua: undefined },
    // What a client controls: the path and the user agent. Quotes, backslashes, control
    // characters, lone and paired surrogates, non-ASCII text.
    { ...base, path: '/bin/a"b\\c\n\u0000\u001f', ua: 'x"y\\z\t\r' },
    { ...base, path: '/bin/\ud800', ua: '\udc00 and \ud83d\ude00 and é€' },
    { ...base, path: '/bin/\u2028\u007f', status: 404, ms: 12.5 },
    // Fields whose quoted pieces are memoised (config and GeoIP names): odd ones are escaped, every time.
    ...[1, 2].map(() => ({ ...base, method: 'GE"T', country: 'x"\u0001', continent: '\ud800', cloud: 'aws:é', mirror: 'm\\', region: 'r"' })),
  ];
  // Keys in the order the server writes them (the interface's order), as JSON.stringify sees them.
  const inOrder = (e: AccessLogEntry): AccessLogEntry => ({
    time: e.time,
    method: e.method,
    path: e.path,
    status: e.status,
    ip: e.ip,
    country: e.country,
    continent: e.continent,
    cloud: e.cloud,
    mirror: e.mirror,
    region: e.region,
    ms: e.ms,
    bytes: e.bytes,
    ua: e.ua,
  });
  for (const entry of entries.map(inOrder)) {
    const line = accessLogLine(entry);
    t.is(line, JSON.stringify(entry));
    t.deepEqual(JSON.parse(line), JSON.parse(JSON.stringify(entry)));
  }
});

// Lines are encoded into a reused buffer and handed over in batches of up to 64 KiB: what arrives
// must be every line, whole, in order, whatever its characters and length.
const logEntries = (): AccessLogEntry[] => {
  const base: AccessLogEntry = { time: 1_764_000_000_123, method: 'GET', path: '/bin/kubectl', status: 302, ip: '81.2.69.160', ms: 0.125 };
  const entries: AccessLogEntry[] = [];
  for (let i = 0; i < 3000; i++) entries.push({ ...base, path: `/bin/${i}`, ua: i % 3 === 0 ? `é€😀 client ${i}` : `containerd/${i}` });
  // Longer than a batch, in bytes and in characters: 40,000 three-byte characters.
  entries.splice(1500, 0, { ...base, ua: '€'.repeat(40_000) });
  return entries;
};

test('batches handed to a function hold every line whole and in order, across batch boundaries', (t) => {
  const batches: string[] = [];
  const log = openAccessLog((batch) => batches.push(batch));
  const entries = logEntries();
  for (const entry of entries) log.write(entry);
  log.audit?.({ time: 1, type: 'audit', mirror: 'eu' } as never);
  log.flush();
  t.true(batches.length > 3, 'more than one batch');
  t.true(
    batches.every((b) => b.endsWith('\n')),
    'a batch ends with a whole line',
  );
  t.deepEqual(batches.join('').split('\n'), [...entries.map(accessLogLine), JSON.stringify({ time: 1, type: 'audit', mirror: 'eu' }), '']);
});

test('a file gets every line, in UTF-8, exactly as accessLogLine wrote it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-access-log-'));
  try {
    const file = join(dir, 'sub', 'access.log');
    const log = openAccessLog(file);
    const entries = logEntries();
    for (const entry of entries) log.write(entry);
    const expected = entries.map((e) => `${accessLogLine(e)}\n`).join('');
    // Written in the background once the file is open (sonic-boom's asynchronous writes).
    const deadline = Date.now() + 20_000;
    let text = '';
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      if (text.length >= expected.length) break;
    }
    t.is(text, expected);
    log.flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
