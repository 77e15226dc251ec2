// Requests are counted in plain numbers and handed to prom-client at scrape time: a count is
// neither lost nor counted twice across scrapes.
import test from 'ava';
import { createMetrics } from '../../src/server/metrics.js';

async function requestsTotal(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const metric = await metrics.registry.getSingleMetric('artifact_requests_total')!.get();
  return new Map(metric.values.map((v) => [`${v.labels.type} ${v.labels.status} ${v.labels.mirror} ${v.labels.region}`, v.value]));
}

test('request counts add up across scrapes', async (t) => {
  const metrics = createMetrics();
  metrics.countRequest('binary', 302, 'eu-files', 'Europe');
  metrics.countRequest('binary', 302, 'eu-files', 'Europe');
  metrics.countRequest('oci', 404, '', '');
  t.deepEqual(
    await requestsTotal(metrics),
    new Map([
      ['binary 302 eu-files Europe', 2],
      ['oci 404  ', 1],
    ]),
  );
  // A scrape with nothing new changes nothing; new requests add to what was there.
  t.deepEqual((await requestsTotal(metrics)).get('binary 302 eu-files Europe'), 2);
  metrics.countRequest('binary', 302, 'eu-files', 'Europe');
  t.deepEqual(
    await requestsTotal(metrics),
    new Map([
      ['binary 302 eu-files Europe', 3],
      ['oci 404  ', 1],
    ]),
  );
  t.regex(await metrics.registry.metrics(), /artifact_requests_total\{type="binary",status="302",mirror="eu-files",region="Europe"\} 3/);
});

test('label combinations that share some labels are counted apart', async (t) => {
  const metrics = createMetrics();
  const combos: [string, number, string, string][] = [
    ['binary', 302, 'eu-files', 'Europe'],
    ['binary', 302, 'eu-files', 'default'],
    ['binary', 302, 'us-files', 'Europe'],
    ['binary', 307, 'eu-files', 'Europe'],
    ['oci', 302, 'eu-files', 'Europe'],
  ];
  combos.forEach(([type, status, mirror, region], i) => {
    for (let n = 0; n <= i; n++) metrics.countRequest(type, status, mirror, region);
  });
  t.deepEqual(await requestsTotal(metrics), new Map(combos.map(([type, status, mirror, region], i) => [`${type} ${status} ${mirror} ${region}`, i + 1])));
});
