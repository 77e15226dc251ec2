import test from 'ava';
import { buildCloudIndex, parseCloudRanges, readCloudRangesFile } from '../../src/geo/cloud-ranges.js';
import { assertSampleCloudRegions, FIXTURE_AWS_RANGES, FIXTURE_GCP_RANGES } from '../helpers/config.js';

test('AWS and GCP files (hand-made, in their formats) locate addresses to regions', (t) => {
  const index = buildCloudIndex([...readCloudRangesFile('aws', FIXTURE_AWS_RANGES), ...readCloudRangesFile('gcp', FIXTURE_GCP_RANGES)]);
  assertSampleCloudRegions(t, index);
});

test('Azure service tags are read in their own format', (t) => {
  const ranges = parseCloudRanges('azure', {
    values: [
      { name: 'AzureCloud.westeurope', properties: { region: 'westeurope', addressPrefixes: ['20.50.0.0/16', '2603:1020::/47'] } },
      { name: 'AzureCloud', properties: { region: '', addressPrefixes: ['20.0.0.0/8'] } },
    ],
  });
  const index = buildCloudIndex(ranges);
  t.is(index.trie.lookup('20.50.1.1')?.value, 'azure:westeurope');
  t.is(index.trie.lookup('20.1.1.1'), undefined);
});

test('nested ranges: the most specific region wins, whatever the file order', (t) => {
  const index = buildCloudIndex(
    parseCloudRanges('aws', {
      prefixes: [
        { ip_prefix: '3.0.0.0/9', region: 'us-east-1' },
        { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2' },
      ],
    }),
  );
  t.is(index.trie.lookup('3.5.141.1')?.value, 'aws:ap-northeast-2');
  t.is(index.trie.lookup('3.4.1.1')?.value, 'aws:us-east-1');
});

test('a file in the wrong format is refused', (t) => {
  t.throws(() => parseCloudRanges('gcp', { prefixes: [] }), { message: /no gcp ranges found/ });
});
