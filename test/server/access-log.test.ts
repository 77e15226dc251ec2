// What the access log records for each kind of answer, behind a trusted proxy: the client's
// address and country (from X-Forwarded-For), never the proxy's, so `report` counts it right.
import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import { accessLogLine, type AccessLogEntry } from '../../src/server/access-log.js';
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
