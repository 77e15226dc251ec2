// Binary downloads through the redirector land on real nginx mirrors and return the right bytes.
import test from 'ava';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeConfig } from '../helpers/config.js';
import { writeRandomFile } from '../helpers/image.js';
import { requireTool, startNginx, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess, type RedirectorProcess } from '../helpers/redirector.js';

let eu: Peer;
let us: Peer;
let redirector: RedirectorProcess;
const files: Record<string, string> = {};

test.before(async () => {
  requireTool('nginx', 'nginx');
  [eu, us] = await Promise.all([startNginx(), startNginx()]);
  // The EU mirror keeps releases under /releases; the US mirror at its root.
  for (const [root, base] of [
    [eu.dir, 'releases'],
    [us.dir, ''],
  ] as const) {
    await mkdir(join(root, base, 'v1.0.0/linux/amd64'), { recursive: true });
    files[root] = await writeRandomFile(join(root, base, 'v1.0.0/linux/amd64/tool'), 3 * 1024 * 1024 + 17, 'tool-v1');
  }
  const config = writeConfig(`
trustedProxies: [127.0.0.1/32]
mirrors:
  eu-files: { url: ${eu.url}/releases }
  us-files: { url: ${us.url} }
routes:
  - prefix: /downloads
    regions: { Europe: eu-files }
    default: us-files
`);
  redirector = await startRedirectorProcess(config);
});

test.after.always(async () => {
  await redirector?.stop();
  await Promise.all([eu?.stop(), us?.stop()]);
});

for (const [name, ip, mirror] of [
  ['a client in Europe', '81.2.69.160', 'eu'],
  ['a client in the US', '8.8.8.8', 'us'],
  ['an IPv6 client in Germany', '2a00:1450:4001::1', 'eu'],
] as const) {
  test.serial(`download through the redirector: ${name} gets the bytes from the ${mirror} mirror`, async (t) => {
    const response = await fetch(`${redirector.url}/downloads/v1.0.0/linux/amd64/tool`, { headers: { 'X-Forwarded-For': ip } });
    t.is(response.status, 200);
    const peer = mirror === 'eu' ? eu : us;
    t.true(response.url.startsWith(`${peer.url}/`), response.url);
    t.true(response.redirected);
    const bytes = Buffer.from(await response.arrayBuffer());
    t.is(bytes.length, 3 * 1024 * 1024 + 17);
    t.is(createHash('sha256').update(bytes).digest('hex'), files[peer.dir]!);
  });
}

test.serial('HEAD follows to the mirror too', async (t) => {
  const response = await fetch(`${redirector.url}/downloads/v1.0.0/linux/amd64/tool`, { method: 'HEAD', headers: { 'X-Forwarded-For': '81.2.69.160' } });
  t.is(response.status, 200);
  t.is(response.headers.get('content-length'), String(3 * 1024 * 1024 + 17));
});

test.serial('traversal never reaches a mirror', async (t) => {
  // node:http sends the path as written (fetch would resolve the dot segments itself).
  for (const path of ['/downloads/%2e%2e/%2e%2e/etc/passwd', '/downloads/v1.0.0/..%2f..%2fsecret', '/downloads/a%00b', '/downloads/../../etc/passwd']) {
    const req = request(`${redirector.url}${path}`, { method: 'GET' });
    req.path = path;
    req.end();
    const [response] = (await once(req, 'response')) as [IncomingMessage];
    response.resume();
    t.is(response.statusCode, 400, path);
    t.is(response.headers.location, undefined);
  }
});
