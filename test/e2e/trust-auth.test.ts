// The audit against a registry mirror that wants credentials (issue 9): a real docker-registry
// with htpasswd auth holds the promoted image and its ownership token. With `trust.credentials`
// (a docker config.json, the promoter's credential lookup) `audit` and serve's background audit
// find it clean and its token its own; without, the audit reports each object as unauthorized and
// the mirror's token unreadable (exit 1, no crash), and nothing of the password reaches the output.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/oci/client.js';
import { writeRegistryToken } from '../../src/trust/ownership.js';
import { writeConfig } from '../helpers/config.js';
import { buildMultiArchImage, pushImage } from '../helpers/image.js';
import { requireTool, skopeo, startRegistry, type Peer } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEY = 'auth-ownership-key-0123456789';
const USER = 'auditor';
const PASSWORD = 'audit-secret-4711';
const REPO = 'prod/kops/pause';

let dir: string;
let mirror: Peer;
let origin: Peer;
let manifests: string;
let dockerConfig: string;
let digest: string;

function config(credentials: boolean, audit = ''): string {
  return writeConfig(`
trustedProxies: [127.0.0.1/32]
mirrors:
  auth-reg: { registry: ${mirror.url}, repository: prod }
  origin-reg: { registry: ${origin.url}, repository: prod }
routes:
  - { prefix: /v2/, default: auth-reg, origin: origin-reg }
trust:
  expected:
    - { route: /v2/, manifests: ${manifests} }
${credentials ? `  credentials: ${dockerConfig}\n` : ''}  ownership: { key: ${KEY} }
  audit: { requestsPerSecond: 200, sampleBytes: 10000000${audit} }
`);
}

async function audit(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(['audit', '--config', file]);
}

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  requireTool('htpasswd', 'apache2-utils');
  dir = tempDir('artifact-serving-trust-auth-');
  const htpasswd = join(dir, 'htpasswd');
  // docker-registry accepts bcrypt entries only.
  writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', USER, PASSWORD]));
  [mirror, origin] = await Promise.all([startRegistry({ htpasswd }), startRegistry()]);
  const image = await buildMultiArchImage(await mkdtemp(join(dir, 'image-')), { seed: 'trust-auth', tag: 'v1' });
  digest = await pushImage(image, origin.host, REPO, 'v1');
  await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${image.layoutDir}:v1`, `docker://${mirror.host}/${REPO}:v1`]);
  await writeRegistryToken(new RegistryClient(mirror.host, { credentials: () => ({ username: USER, password: PASSWORD }) }), `${mirror.host}/prod/kops`, KEY);

  manifests = mkdtempSync(join(dir, 'manifests-'));
  mkdirSync(join(manifests, 'manifests', 'kops'), { recursive: true });
  mkdirSync(join(manifests, 'images', 'kops'), { recursive: true });
  writeFileSync(join(manifests, 'manifests', 'kops', 'promoter-manifest.yaml'), `registries:\n- name: 127.0.0.1:1/staging/kops\n  src: true\n- name: ${mirror.host}/prod/kops\n`);
  writeFileSync(join(manifests, 'images', 'kops', 'images.yaml'), `- name: pause\n  dmap:\n    "${image.indexDigest}": ["v1"]\n`);
  dockerConfig = join(dir, 'docker-config.json');
  writeFileSync(dockerConfig, JSON.stringify({ auths: { [mirror.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
});

test.after.always(async () => {
  await Promise.all([mirror?.stop(), origin?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('with trust.credentials the audit reads the htpasswd mirror and finds it clean', async (t) => {
  t.timeout(120_000);
  // The mirror does want credentials.
  const anonymous = await fetch(`${mirror.url}/v2/${REPO}/manifests/v1`, { method: 'HEAD' });
  t.is(anonymous.status, 401);
  const result = await audit(config(true));
  t.is(result.stdout, '');
  t.regex(result.stderr, /audited 1 mirror\(s\) .* 0 finding\(s\)/);
  t.is(result.code, 0);
  t.truthy(digest);
});

test.serial('without credentials every object is a finding that says unauthorized, not a crash', async (t) => {
  t.timeout(120_000);
  const result = await audit(config(false));
  t.is(result.code, 1);
  const lines = result.stdout.trim().split('\n');
  t.log(lines.join('\n'));
  t.true(lines.includes(`auth-reg owner kops check failed: cannot read ownership token: unauthorized (HTTP 401): ${mirror.host}: needs credentials (basic auth) and trust.credentials has none`), result.stdout);
  t.true(lines.some((l) => /^auth-reg kops\/pause:v1 check failed: unauthorized \(HTTP 401\)/.test(l)));
  t.true(lines.some((l) => /^auth-reg kops\/pause@sha256:[0-9a-f]{64} check failed: unauthorized \(HTTP 401\)/.test(l)));
  t.false(`${result.stdout}${result.stderr}`.includes(PASSWORD));
});

test.serial("serve's background audit uses the credentials too: the mirror is owned and has no findings", async (t) => {
  t.timeout(120_000);
  const redirector = await startRedirectorProcess(config(true, ', intervalSeconds: 3600, sliceSeconds: 1'));
  t.teardown(() => redirector.stop());
  await redirector.waitForLog(/audit finished/, 90_000);
  const status = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { mirrors: { name: string; excluded?: string }[]; audit?: { audited: number; total: number } };
  t.is(status.mirrors.find((m) => m.name === 'auth-reg')?.excluded, undefined);
  t.like(status.audit, { audited: 3, total: 3 }, 'the ownership token, the image and its tag');
  const metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  t.regex(metrics, /artifact_trust_findings\{mirror="auth-reg"\} 0/);
  t.regex(metrics, /artifact_trust_excluded\{mirror="auth-reg"\} 0/);
  t.false(redirector.stderr().includes(PASSWORD));
  t.false(redirector.stderr().includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')));
});
