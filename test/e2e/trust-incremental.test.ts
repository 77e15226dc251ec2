// The background audit applies its findings slice by slice (issue 9: bounded and incremental):
// with 300 expected files on a real nginx mirror and an audit at 10 requests per second (a full
// cycle: 30 s or more), 15 files are deleted after the redirector has cached them as present (for
// an hour, so only the audit can take them out). `serve` then routes a deleted file to the origin
// because of the audit ("audit: missing" on ?mirrorlist) while /metrics and /-/status.json show the
// cycle still under way: the finding applied when its slice ended, not at the end of the pass.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeConfig } from '../helpers/config.js';
import { requireTool, startNginx } from '../helpers/peers.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const PROJECT = 'k8s-staging-many';
const COUNT = 300;
const NAMES = Array.from({ length: COUNT }, (_, i) => `v1/file-${String(i).padStart(3, '0')}.txt`);
const DELETED = NAMES.filter((_, i) => i % 20 === 7);

test('a deleted file leaves routing after its audit slice, long before the audit cycle ends', async (t) => {
  t.timeout(240_000);
  requireTool('nginx', 'nginx');
  const dir = tempDir('artifact-serving-trust-incremental-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mirrorDir = join(dir, 'mirror');
  const lines: string[] = [];
  for (const name of NAMES) {
    const bytes = `${name}\n`;
    await mkdir(join(mirrorDir, name, '..'), { recursive: true });
    await writeFile(join(mirrorDir, name), bytes);
    lines.push(`- name: ${name}\n  sha256: ${createHash('sha256').update(bytes).digest('hex')}\n`);
  }
  const manifests = join(dir, 'manifests');
  await mkdir(join(manifests, 'filestores', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await writeFile(join(manifests, 'filestores', PROJECT, 'filepromoter-manifest.yaml'), `filestores:\n- base: ${pathToFileURL(join(dir, 'staging')).href}/\n  src: true\n- base: ${pathToFileURL(mirrorDir).href}/\n`);
  await writeFile(join(manifests, 'manifests', PROJECT, 'release.yaml'), `files:\n${lines.join('')}`);
  const mirror = await startNginx({ root: mirrorDir });
  t.teardown(() => mirror.stop());
  const origin = await startNginx({ root: mirrorDir });
  t.teardown(() => origin.stop());

  const redirector = await startRedirectorProcess(
    writeConfig(`
trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 5000, availability: { verifySeconds: 3600, presentSeconds: 3600, errorSeconds: 1 } }
mirrors:
  eu-files: { url: ${mirror.url} }
  origin-files: { url: ${origin.url} }
routes:
  - { prefix: /releases, default: eu-files, origin: origin-files }
trust:
  expected:
    - { route: /releases, manifests: ${manifests} }
  audit: { requestsPerSecond: 10, sampleBytes: 0, intervalSeconds: 3600, sliceSeconds: 1 }
`),
  );
  t.teardown(() => redirector.stop());
  // Every file is asked for once: the redirector caches each as present on the mirror.
  // (Under load the first check may time out and send a request to the origin: asked again then.)
  for (const name of NAMES) {
    let mirrorName: string | null = null;
    for (let attempt = 0; attempt < 20 && mirrorName !== 'eu-files'; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
      const response = await fetch(`${redirector.url}/releases/${name}`, { redirect: 'manual' });
      await response.body?.cancel();
      mirrorName = response.headers.get('x-artifact-mirror');
    }
    t.is(mirrorName, 'eu-files', name);
  }
  for (const name of DELETED) await unlink(join(mirrorDir, name));

  // Scrape until the audit has found a deleted file; the cycle must still be running then.
  const gauge = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{mirror="eu-files"\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  let metrics = '';
  const deadline = Date.now() + 120_000;
  while (!(gauge(metrics, 'artifact_trust_findings') >= 1)) {
    if (Date.now() > deadline) return t.fail(`no finding within 120 s:\n${metrics}\n${redirector.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    metrics = await (await fetch(`${redirector.url}/metrics`)).text();
  }
  const audited = gauge(metrics, 'artifact_trust_audit_cycle_objects_audited');
  const total = gauge(metrics, 'artifact_trust_audit_cycle_objects');
  t.is(total, COUNT);
  t.log(`the first finding applied after ${audited} of ${total} objects`);
  t.true(audited < total, `the first finding applied after ${audited} of ${total} objects`);
  t.true(gauge(metrics, 'artifact_trust_audit_cycle_start_timestamp_seconds') > 0);

  // Which deleted file the audit has found so far: the redirector sends it to the origin, saying why.
  type List = { mirrors: { mirror: string; usable: boolean; reason?: string }[] };
  const reasons = await Promise.all(
    DELETED.map(async (name) => {
      const list = (await (await fetch(`${redirector.url}/releases/${name}?mirrorlist`)).json()) as List;
      return list.mirrors.find((m) => m.mirror === 'eu-files')?.reason ?? '';
    }),
  );
  const found = DELETED.filter((_, i) => /^audit: missing/.test(reasons[i]!));
  t.true(found.length >= 1, reasons.join('\n'));
  const response = await fetch(`${redirector.url}/releases/${found[0]}`, { redirect: 'manual' });
  await response.body?.cancel();
  t.is(response.headers.get('x-artifact-mirror'), 'origin-files');

  const status = (await (await fetch(`${redirector.url}/-/status.json`)).json()) as { audit?: { cycle: number; audited: number; total: number; lastCycleFinishedAt?: string } };
  t.like(status.audit, { cycle: 1, total: COUNT });
  t.true(status.audit!.audited < COUNT, `status.json: ${JSON.stringify(status.audit)}`);
  t.is(status.audit!.lastCycleFinishedAt, undefined, 'the first cycle has not finished');
});
