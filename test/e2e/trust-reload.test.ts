// Expected content follows the config: serve refuses to start on a manifest it cannot read (at the
// manifest's file:line:column), and SIGHUP reloads it (a rollback that moves a tag moves where
// tag requests may go); a bad manifest on reload is logged and the previous content kept.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeConfig } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';
import { tempDir } from '../helpers/temp-dir.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function setup(images: string): { config: string; imagesFile: string } {
  const root = tempDir('artifact-serving-trust-reload-');
  mkdirSync(join(root, 'manifests', 'kops'), { recursive: true });
  mkdirSync(join(root, 'images', 'kops'), { recursive: true });
  writeFileSync(join(root, 'manifests', 'kops', 'promoter-manifest.yaml'), 'registries:\n- name: gcr.io/staging\n  src: true\n- name: eu.example/prod/kops\n');
  const imagesFile = join(root, 'images', 'kops', 'images.yaml');
  writeFileSync(imagesFile, images);
  const config = writeConfig(`
mirrors:
  eu-reg: { registry: https://eu.example, repository: prod, probe: false }
  origin-reg: { registry: https://origin.example, repository: prod, probe: false }
routes:
  - prefix: /v2/
    default: eu-reg
    origin: origin-reg
trust:
  expected:
    - { route: /v2/, manifests: ${root} }
`);
  return { config, imagesFile };
}

test('serve does not start on expected content it cannot read, and says where', async (t) => {
  t.timeout(90_000);
  const { config, imagesFile } = setup('- name: pause\n  dmap: [\n');
  const error = await t.throwsAsync(startRedirectorProcess(config));
  t.regex(error!.message, new RegExp(`${imagesFile}:\\d+:\\d+: `));
  t.regex(error!.message, /cannot start: the expected content has \d+ problem/);
});

test('SIGHUP reloads the expected content; a bad one keeps the previous', async (t) => {
  t.timeout(90_000);
  const { config, imagesFile } = setup(`- name: pause\n  dmap:\n    "${D1}": ["1.0"]\n`);
  const redirector = await startRedirectorProcess(config, ['--no-watch']);
  t.teardown(() => redirector.stop());
  await redirector.waitForLog(/"digests":1,"tags":1.*expected content loaded/);
  writeFileSync(imagesFile, `- name: pause\n  dmap:\n    "${D1}": []\n    "${D2}": ["1.0", "1.1"]\n`);
  let mark = redirector.stderr().length;
  redirector.child.kill('SIGHUP');
  await redirector.waitForLog(/"digests":2,"tags":2.*expected content loaded/, 30_000, mark);
  writeFileSync(imagesFile, '- name: pause\n  dmap: [\n');
  mark = redirector.stderr().length;
  redirector.child.kill('SIGHUP');
  const line = await redirector.waitForLog(/.*expected content rejected; keeping the previous one.*/, 30_000, mark);
  t.true(line.includes(imagesFile));
});
