// `npm run update-ranges [-- --out DIR] [--aws URL] [--gcp URL] [--azure URL]`: downloads the
// cloud providers' published IP ranges into DIR (default data/), in their own formats, ready
// for a config's cloudRanges. Each file is checked to parse before it replaces the old one, so
// a failed or truncated download never leaves a broken file behind.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCloudRanges, type CloudProvider } from '../src/geo/cloud-ranges.js';

const SOURCES: Record<CloudProvider, string | undefined> = {
  aws: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
  gcp: 'https://www.gstatic.com/ipranges/cloud.json',
  // Azure publishes a dated file behind a download page: pass its URL with --azure.
  azure: undefined,
};

export async function updateRanges(out: string, urls: Partial<Record<CloudProvider, string>>, log: (line: string) => void): Promise<number> {
  mkdirSync(out, { recursive: true });
  let failures = 0;
  for (const provider of Object.keys(SOURCES) as CloudProvider[]) {
    const url = urls[provider] ?? SOURCES[provider];
    if (!url) {
      log(`${provider}: skipped (no URL; pass --${provider} URL)`);
      continue;
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      const ranges = parseCloudRanges(provider, JSON.parse(text));
      const target = join(out, `${provider}-ip-ranges.json`);
      writeFileSync(`${target}.tmp`, text);
      renameSync(`${target}.tmp`, target);
      log(`${provider}: ${ranges.length} ranges -> ${target}`);
    } catch (error) {
      failures++;
      log(`${provider}: failed to update from ${url}: ${(error as Error).message}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'data' }, aws: { type: 'string' }, gcp: { type: 'string' }, azure: { type: 'string' } } });
  const urls: Partial<Record<CloudProvider, string>> = {};
  if (values.aws) urls.aws = values.aws;
  if (values.gcp) urls.gcp = values.gcp;
  if (values.azure) urls.azure = values.azure;
  process.exitCode = await updateRanges(resolve(values.out), urls, (line) => console.log(line));
}
