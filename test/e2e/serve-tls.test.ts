// `serve --tls-cert/--tls-key`: a real process serving HTTPS with a certificate made by openssl,
// the certificate replaced on disk (by rename, as Kubernetes Secrets do) and picked up without a
// restart, a bad pair refused with the old one still serving, and a clear error at start.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { main } from '../../src/cli.js';
import { writeConfig } from '../helpers/config.js';
import { requireTool } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const CONFIG = `mirrors:
  reg: { registry: https://reg.example, probe: false }
routes:
  - prefix: /v2/
    default: reg
`;

/** A self-signed certificate for 127.0.0.1 with this common name. */
function makeCert(dir: string, name: string): { cert: string; key: string; pem: Buffer } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { cert, key, pem: readFileSync(cert) };
}

/** One HTTPS request trusting `ca`; the answer's status, a header, and the certificate's CN. */
function get(url: string, ca: Buffer[]): Promise<{ status: number; location: string | undefined; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject.CN);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, cn }));
    });
    req.on('error', reject).end();
  });
}

test('serve over HTTPS; a replaced certificate is picked up, a bad one is refused', async (t) => {
  requireTool('openssl', 'openssl');
  const dir = tempDir('artifact-serving-tls-');
  const first = makeCert(dir, 'first');
  // The served files are `tls.crt` and `tls.key`, replaced by rename like a Secret volume.
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  writeFileSync(cert, first.pem);
  writeFileSync(key, readFileSync(first.key));
  const server = await startRedirectorProcess(writeConfig(CONFIG), ['--tls-cert', cert, '--tls-key', key]);
  t.teardown(() => server.stop());
  t.regex(server.url, /^https:/);
  const second = makeCert(dir, 'second');
  const ca = [first.pem, second.pem];

  const before = await get(`${server.url}/v2/pause/manifests/3.10`, ca);
  t.like(before, { status: 307, location: 'https://reg.example/v2/pause/manifests/3.10', cn: 'first' });

  let mark = server.stderr().length;
  writeFileSync(join(dir, 'tls.key.new'), readFileSync(second.key));
  writeFileSync(join(dir, 'tls.crt.new'), second.pem);
  renameSync(join(dir, 'tls.key.new'), key);
  renameSync(join(dir, 'tls.crt.new'), cert);
  // Only a matching pair is ever swapped in (a reload between the two renames is refused).
  await server.waitForLog(/TLS certificate reloaded/, 15_000, mark);
  t.is((await get(`${server.url}/v2/`, ca)).cn, 'second');

  // A certificate that does not match the key: refused, the second pair keeps serving.
  mark = server.stderr().length;
  writeFileSync(cert, first.pem);
  server.child.kill('SIGHUP');
  await server.waitForLog(/TLS certificate reload rejected/, 15_000, mark);
  t.regex(server.stderr().slice(mark), /not a usable pair/);
  t.like(await get(`${server.url}/v2/`, ca), { status: 200, cn: 'second' });
});

test('serve refuses to start with a missing or mismatched certificate, naming the file', async (t) => {
  requireTool('openssl', 'openssl');
  const dir = tempDir('artifact-serving-tls-');
  const a = makeCert(dir, 'a');
  const b = makeCert(dir, 'b');
  const run = async (args: string[]) => {
    let err = '';
    const code = await main(['serve', '--config', writeConfig(CONFIG), '--port', '0', ...args], { stdout: () => {}, stderr: (s) => (err += s) });
    return { code, err };
  };
  const missing = await run(['--tls-cert', join(dir, 'nope.crt'), '--tls-key', a.key]);
  t.is(missing.code, 1);
  t.regex(missing.err, /cannot read TLS certificate .*nope\.crt/);
  const mismatched = await run(['--tls-cert', a.cert, '--tls-key', b.key]);
  t.is(mismatched.code, 1);
  t.regex(mismatched.err, /not a usable pair/);
  const half = await run(['--tls-cert', a.cert]);
  t.is(half.code, 2);
});
