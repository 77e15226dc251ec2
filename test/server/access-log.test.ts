// What the access log records for each kind of answer, behind a trusted proxy: the client's
// address and country (from X-Forwarded-For), never the proxy's, so `report` counts it right.
import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { NO_CHECKS } from '../../src/mirrors/state-view.js';
import type { AccessLogEntry } from '../../src/server/access-log.js';
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
