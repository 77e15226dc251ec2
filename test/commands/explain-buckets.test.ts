// `explain` names a blob bucket as a bucket wherever it names a mirror (candidates, checks, the
// decision, and `blobBucket: true` in --json), so an operator reading it sees at once which answers
// send a client's layers to object storage and which to a registry. No process, no network
// (--offline and --holds: nothing is reached).
import test from 'ava';
import { writeConfig } from '../helpers/config.js';
import { runCli } from '../helpers/run-cli.js';

const BLOB = `/v2/pause/blobs/sha256:${'7f'.repeat(32)}`;
const CONFIG = `trustedProxies: []
mirrors:
  s3-us-east-1: { blobs: https://bucket.example }
  ar-us-east4: { registry: https://ar.example, repository: images }
routes:
  - prefix: /v2/
    regions:
      10.0.0.0/8: [s3-us-east-1, ar-us-east4]
    default: ar-us-east4
`;

test('explain labels a blob bucket in its candidates and decision', async (t) => {
  const file = writeConfig(CONFIG);
  const held = await runCli(['explain', '--config', file, '--ip', '10.1.2.3', '--offline', '--holds', 's3-us-east-1', BLOB]);
  t.is(held.code, 0, held.stderr);
  t.regex(held.stdout, /chosen\s+s3-us-east-1 \(blob bucket\)\s+\[region 10\.0\.0\.0\/8\]/);
  t.regex(held.stdout, /alternative ar-us-east4\s+\[region 10\.0\.0\.0\/8\]/, 'a registry is not labelled');
  t.regex(held.stdout, /decision\s+307 -> https:\/\/bucket\.example\/containers\/images\/sha256:(?:7f)+ \(blob bucket s3-us-east-1\)/);
  // Not known to hold it: the check serve would make names the bucket, which is skipped meanwhile.
  const offline = await runCli(['explain', '--config', file, '--ip', '10.1.2.3', '--offline', BLOB]);
  t.regex(offline.stdout, /skipped\s+s3-us-east-1 \(blob bucket\)/);
  t.regex(offline.stdout, /HEAD https:\/\/bucket\.example\/containers\/images\/sha256:(?:7f)+ -> not checked \(--offline\) \(blob bucket s3-us-east-1\)/);
  t.regex(offline.stdout, /decision\s+307 -> https:\/\/ar\.example\/v2\/images\/pause\/blobs\/sha256:(?:7f)+\n/);
});

test('explain --json marks blob buckets with blobBucket: true', async (t) => {
  const file = writeConfig(CONFIG);
  const run = await runCli(['explain', '--config', file, '--ip', '10.1.2.3', '--offline', '--holds', 's3-us-east-1', '--json', BLOB]);
  t.is(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout) as { mirror: string; blobBucket?: boolean; verdicts: { mirror: string; blobBucket?: boolean }[]; alternatives: { mirror: string; blobBucket?: boolean }[] };
  t.is(json.mirror, 's3-us-east-1');
  t.true(json.blobBucket);
  t.deepEqual(
    json.verdicts.map((v) => [v.mirror, v.blobBucket === true]),
    [
      ['s3-us-east-1', true],
      ['ar-us-east4', false],
    ],
  );
  t.deepEqual(
    json.alternatives.map((a) => [a.mirror, a.blobBucket === true]),
    [['ar-us-east4', false]],
  );
  // A manifest never goes to a bucket: none is named.
  const manifest = await runCli(['explain', '--config', file, '--ip', '10.1.2.3', '--offline', '--holds', 's3-us-east-1', '/v2/pause/manifests/3.10']);
  t.notRegex(manifest.stdout, /blob bucket/);
});
