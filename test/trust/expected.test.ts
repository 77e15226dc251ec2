// Expected content: the trust: block's checks at file:line:column, and the index built from
// promoter manifests and ledgers, named as clients ask for them.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/yaml-source.js';
import { serialiseLedger, emptyLedger, imageLedger } from '../../src/promoter/ledger.js';
import { belowRoot, loadExpected } from '../../src/trust/expected.js';
import { problemsOf, writeConfig } from '../helpers/config.js';
import { tempDir } from '../helpers/temp-dir.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

/** kpromo's layout: manifests/<p>/promoter-manifest.yaml + images/<p>/images.yaml. */
function manifests(imagesYaml: string): string {
  const root = tempDir('artifact-serving-expected-');
  mkdirSync(join(root, 'manifests', 'kops'), { recursive: true });
  mkdirSync(join(root, 'images', 'kops'), { recursive: true });
  writeFileSync(
    join(root, 'manifests', 'kops', 'promoter-manifest.yaml'),
    `registries:\n- name: gcr.io/k8s-staging-kops\n  src: true\n- name: eu.registry.example/prod/images/kops\n- name: us.registry.example/prod/images/kops\n`,
  );
  writeFileSync(join(root, 'images', 'kops', 'images.yaml'), imagesYaml);
  return root;
}

function configWith(manifestsDir: string, extra = ''): string {
  return writeConfig(`
mirrors:
  eu-reg: { registry: https://eu.registry.example, repository: prod/images }
  origin-reg: { registry: https://origin.registry.example, repository: prod/images }
  eu-files: { url: https://eu.files.example }
routes:
  - prefix: /v2/
    default: eu-reg
    origin: origin-reg
  - prefix: /releases
    default: eu-files
trust:
  expected:
    - route: /v2/
      manifests: ${manifestsDir}
${extra}`);
}

test('image manifests become client names below the root, with tags and digests', async (t) => {
  const dir = manifests(`- name: dns-controller\n  dmap:\n    "${D1}": ["1.0", "latest"]\n    "${D2}": ["1.1"]\n- name: pause\n  dmap:\n    "${D3}": []\n`);
  const loaded = loadConfigFile(configWith(dir));
  if (!loaded.ok) return t.fail(loaded.problems.map(formatProblem).join('\n'));
  const expected = await loadExpected(loaded.config.trust);
  if (!expected.ok) return t.fail(expected.problems.map(formatProblem).join('\n'));
  const route = expected.expected.route('/v2');
  t.truthy(route);
  t.deepEqual([...route!.images.keys()].sort(), ['kops/dns-controller', 'kops/pause']);
  t.is(expected.expected.tagDigest('/v2', 'kops/dns-controller', '1.1'), D2);
  t.is(expected.expected.tagDigest('/v2', 'kops/dns-controller', 'latest'), D1);
  t.is(expected.expected.tagDigest('/v2', 'kops/dns-controller', 'nope'), undefined);
  t.deepEqual([...route!.imagePrefixes], ['kops']);
  t.deepEqual(expected.expected.counts(), { images: 2, digests: 3, tags: 3, files: 0 });
});

test('a malformed digest is left out with a warning at its file:line:column, as the promoter does', async (t) => {
  const dir = manifests(`- name: dns-controller\n  dmap:\n    "sha256:nothex": ["1.0"]\n    "${D1}": ["1.1"]\n`);
  const loaded = loadConfigFile(configWith(dir));
  if (!loaded.ok) return t.fail();
  const expected = await loadExpected(loaded.config.trust);
  if (!expected.ok) return t.fail(expected.problems.map(formatProblem).join('\n'));
  t.regex(formatProblem(expected.warnings[0]!), /images\/kops\/images\.yaml:3:\d+: .*sha256/);
  t.deepEqual([...expected.expected.route('/v2')!.images.get('kops/dns-controller')!.digests], [D1]);
});

test('a manifest that does not parse refuses the load, at its file:line:column', async (t) => {
  const dir = manifests(`- name: dns-controller\n  dmap: [\n`);
  const loaded = loadConfigFile(configWith(dir));
  if (!loaded.ok) return t.fail();
  const expected = await loadExpected(loaded.config.trust);
  t.false(expected.ok);
  if (!expected.ok) t.regex(formatProblem(expected.problems[0]!), /images\/kops\/images\.yaml:\d+:\d+: /);
});

test("trust: problems are reported at the config's file:line:column", (t) => {
  const problems = problemsOf(`
mirrors:
  eu-reg: { registry: https://eu.registry.example }
  eu-files: { url: https://eu.files.example }
routes:
  - prefix: /v2/
    default: eu-reg
  - prefix: /releases
    default: eu-files
trust:
  expected:
    - route: /v3
      manifests: x
    - route: /releases
  ownership:
    key: short
    destinations: { nope: s3://x }
  audit: { requestsPerSecond: 0 }
`);
  t.true(
    problems.some((p) => /^config\.yaml:12:14: no route has prefix "\/v3"/.test(p)),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => /^config\.yaml:14:7: give manifests:, ledgers: or both/.test(p)),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => /^config\.yaml:16:10: an ownership key has at least 16 characters/.test(p)),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => /^config\.yaml:18:26: .*requestsPerSecond|^config\.yaml:18:\d+: .*too small|must be greater/i.test(p)),
    problems.join('\n'),
  );
});

test('a file mirror needs its destination named once ownership is on', (t) => {
  const dir = tempDir('artifact-serving-expected-');
  const problems = problemsOf(`
mirrors:
  eu-files: { url: https://eu.files.example }
routes:
  - prefix: /releases
    default: eu-files
trust:
  expected:
    - route: /releases
      ledgers: ${dir}
  ownership: { key: 0123456789abcdef0123 }
`);
  t.true(
    problems.some((p) => /^config\.yaml:11:\d+: file mirror "eu-files" \(route \/releases\) needs its promoter destination/.test(p)),
    problems.join('\n'),
  );
});

test('ledgers add what the manifests do not name; the manifests win on tags', async (t) => {
  const dir = manifests(`- name: dns-controller\n  dmap:\n    "${D1}": ["1.0"]\n`);
  const ledgers = tempDir('artifact-serving-ledgers-');
  const ledger = emptyLedger();
  imageLedger(ledger, 'dns-controller').digests.add(D2);
  imageLedger(ledger, 'dns-controller').tags.set('1.0', D2);
  imageLedger(ledger, 'dns-controller').tags.set('0.9', D2);
  writeFileSync(join(ledgers, 'images--kops.json'), serialiseLedger(ledger, 'images/kops', 'eu.registry.example/prod/images/kops'));
  const loaded = loadConfigFile(configWith(dir, `      ledgers: ${ledgers}\n`));
  if (!loaded.ok) return t.fail(loaded.problems.map(formatProblem).join('\n'));
  const expected = await loadExpected(loaded.config.trust);
  if (!expected.ok) return t.fail(expected.problems.map(formatProblem).join('\n'));
  t.is(expected.expected.tagDigest('/v2', 'kops/dns-controller', '1.0'), D1);
  t.is(expected.expected.tagDigest('/v2', 'kops/dns-controller', '0.9'), D2);
  t.deepEqual([...expected.expected.route('/v2')!.images.get('kops/dns-controller')!.digests].sort(), [D1, D2]);
});

test('a ledger that is not a ledger is refused with its file', async (t) => {
  const dir = manifests(`- name: dns-controller\n  dmap:\n    "${D1}": ["1.0"]\n`);
  const ledgers = tempDir('artifact-serving-ledgers-');
  writeFileSync(join(ledgers, 'bad.json'), '{"version": 1}');
  const loaded = loadConfigFile(configWith(dir, `      ledgers: ${ledgers}\n`));
  if (!loaded.ok) return t.fail();
  const expected = await loadExpected(loaded.config.trust);
  t.false(expected.ok);
  if (!expected.ok) t.regex(formatProblem(expected.problems[0]!), new RegExp(`${join(ledgers, 'bad.json')}:1:1: invalid ledger`));
});

test('belowRoot strips the host and the root', (t) => {
  t.is(belowRoot('eu.example/prod/images/kops', 'prod/images'), 'kops');
  t.is(belowRoot('eu.example/prod/images', 'prod/images'), '');
  t.is(belowRoot('eu.example/other/kops', 'prod/images'), undefined);
  t.is(belowRoot('127.0.0.1:5000/prod/', ''), 'prod');
});
