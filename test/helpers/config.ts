// Writing configs for tests: a temp file per config, so positions, relative paths and reloads
// behave exactly as they do for users.
import type { ExecutionContext } from 'ava';
import type { buildCloudIndex } from '../../src/geo/cloud-ranges.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompiledConfig } from '../../src/config/compiled.js';
import { loadConfigFile } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/yaml-source.js';
import { tempDir } from './temp-dir.js';

/** Real test data beside the project (never copied into it). */
export const SHARED_TESTDATA = fileURLToPath(new URL('../../../shared/testdata/', import.meta.url));
export const AWS_RANGES = join(SHARED_TESTDATA, 'cloud-ranges/aws-ip-ranges.json');
export const GCP_RANGES = join(SHARED_TESTDATA, 'cloud-ranges/gcp-cloud.json');
/** Hand-made few-line range files in the providers' formats, for the unit tier (no ../shared). */
export const FIXTURE_AWS_RANGES = fileURLToPath(new URL('../fixtures/cloud-ranges/aws-ip-ranges.json', import.meta.url));
export const FIXTURE_GCP_RANGES = fileURLToPath(new URL('../fixtures/cloud-ranges/gcp-cloud.json', import.meta.url));

/** Two binary mirrors, Europe to eu and everyone else to us: the config the serve-process tests share
 * (test/commands/cli.test.ts keeps its own copy: its expectations name line numbers in it). */
export const EU_US_BINARY_CONFIG = `mirrors:
  eu: { url: https://eu.example }
  us: { url: https://us.example }
routes:
  - prefix: /bin
    regions: { Europe: eu }
    default: us
`;

export function writeConfig(text: string, name = 'config.yaml'): string {
  const dir = tempDir('artifact-serving-config-');
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * A promoter manifests tree for `trust.expected` (in a temp dir, returned): project kops promotes
 * `kops/pause@<digest>` tagged 1.0 from gcr.io/staging to `destination` (e.g. eu.example/prod/kops).
 */
export function writePromoterManifests(destination: string, digest: string): string {
  const root = tempDir('artifact-serving-manifests-');
  for (const dir of ['manifests', 'images']) mkdirSync(join(root, dir, 'kops'), { recursive: true });
  writeFileSync(join(root, 'manifests', 'kops', 'promoter-manifest.yaml'), `registries:\n- name: gcr.io/staging\n  src: true\n- name: ${destination}\n`);
  writeFileSync(join(root, 'images', 'kops', 'images.yaml'), `- name: pause\n  dmap:\n    "${digest}": ["1.0"]\n`);
  return root;
}

export function compile(text: string): CompiledConfig {
  const result = loadConfigFile(writeConfig(text));
  if (!result.ok) throw new Error(`config should be valid:\n${result.problems.map(formatProblem).join('\n')}`);
  return result.config;
}

export function problemsOf(text: string): string[] {
  const file = writeConfig(text);
  const result = loadConfigFile(file);
  if (result.ok) return [];
  return result.problems.map((p) => formatProblem(p).replace(file, 'config.yaml'));
}

/**
 * The addresses both range files locate alike: the real provider files (e2e) and the hand-made
 * fixtures (unit) were cut to agree on these, so one check serves both tiers.
 */
export function assertSampleCloudRegions(t: ExecutionContext, index: ReturnType<typeof buildCloudIndex>): void {
  t.is(index.trie.lookup('52.94.152.9')?.value, 'aws:us-east-1');
  t.is(index.trie.lookup('2a05:d06a:8000::1')?.value, 'aws:eu-west-1');
  t.is(index.trie.lookup('8.34.208.1')?.value, 'gcp:europe-west1');
  t.is(index.trie.lookup('2600:1900:4000::1')?.value, 'gcp:us-central1');
  t.true(index.regions.has('aws:ap-northeast-2'));
  t.true(index.providers.has('gcp'));
  t.false(index.regions.has('aws:global'));
}
