import test from 'ava';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { updateRanges } from '../../scripts/update-ranges.js';
import { FIXTURE_AWS_RANGES as AWS_RANGES, FIXTURE_GCP_RANGES as GCP_RANGES } from '../helpers/config.js';
import { tempDir } from '../helpers/temp-dir.js';

test('downloads each provider file, checks it parses, and never keeps a broken one', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/aws') res.end(readFileSync(AWS_RANGES));
    else if (req.url === '/gcp') res.end(readFileSync(GCP_RANGES));
    else res.end('{"truncated":');
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const out = tempDir('ranges-');
  const lines: string[] = [];
  const code = await updateRanges(out, { aws: `${base}/aws`, gcp: `${base}/gcp`, azure: `${base}/broken` }, (line) => lines.push(line));
  t.is(code, 1);
  t.regex(lines.join('\n'), /aws: \d+ ranges/);
  t.regex(lines.join('\n'), /azure: failed to update/);
  t.is(readFileSync(join(out, 'aws-ip-ranges.json'), 'utf8'), readFileSync(AWS_RANGES, 'utf8'));
  t.true(existsSync(join(out, 'gcp-ip-ranges.json')));
  t.false(existsSync(join(out, 'azure-ip-ranges.json')));
});
