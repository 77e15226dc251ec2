// The real data in ../shared/testdata (providers' range files, k8s.io file manifests) read by the
// code that reads them in production; the unit tier uses small hand-made copies of the formats.
import test from 'ava';
import { decide, type RequestFacts } from '../../src/decision/decide.js';
import { buildCloudIndex, readCloudRangesFile } from '../../src/geo/cloud-ranges.js';
import { ALL_UP } from '../../src/mirrors/state-view.js';
import { assertSampleCloudRegions, AWS_RANGES, compile, GCP_RANGES, SHARED_TESTDATA } from '../helpers/config.js';

function facts(path: string, ip: string): RequestFacts {
  return { method: 'GET', path, query: '', peerAddress: ip, checksDone: true };
}

test('real AWS and GCP files locate addresses to regions', (t) => {
  const index = buildCloudIndex([...readCloudRangesFile('aws', AWS_RANGES), ...readCloudRangesFile('gcp', GCP_RANGES)]);
  assertSampleCloudRegions(t, index);
});

test('Metalink carries the sha256 that the route’s file manifest gives (real kops manifest)', (t) => {
  const kops = compile(`
mirrors:
  a: { url: https://a.example/kops }
routes:
  - prefix: /kops
    default: a
    checksums: ${SHARED_TESTDATA}promoter/k8s.io/artifacts/manifests/k8s-staging-kops/1.24.0.yaml
`);
  const decision = decide(facts('/kops/1.24.0/darwin/amd64/kops.meta4', '8.8.8.8'), kops, ALL_UP);
  if (decision.kind !== 'mirrorlist') return t.fail(JSON.stringify(decision));
  t.is(decision.sha256, 'ba6d43a2e6858f0c53ed23b5ca241a9937628575bd0f1f768e57118d30abb40b');
  t.is(decision.entries[0]!.url, 'https://a.example/kops/1.24.0/darwin/amd64/kops');
  const unknown = decide(facts('/kops/9.9.9/kops.meta4', '8.8.8.8'), kops, ALL_UP);
  t.is(unknown.kind === 'mirrorlist' ? unknown.sha256 : 'x', undefined);
});
