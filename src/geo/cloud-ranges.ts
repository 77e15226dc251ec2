// Cloud provider address ranges, read in each provider's own published format, so users can
// drop in the files they download (`npm run update-ranges`) without a conversion step.
import { readFileSync } from 'node:fs';
import { CidrTrie } from './cidr-trie.js';
import { errorMessage } from '../util/error-message.js';

export const CLOUD_PROVIDERS = ['aws', 'gcp', 'azure'] as const;
export type CloudProvider = (typeof CLOUD_PROVIDERS)[number];

export interface CloudRange {
  cidr: string;
  /** `provider:region`, e.g. `aws:us-east-1`. */
  region: string;
}

interface AwsFile {
  prefixes?: { ip_prefix?: string; region?: string }[];
  ipv6_prefixes?: { ipv6_prefix?: string; region?: string }[];
}
interface GcpFile {
  prefixes?: { ipv4Prefix?: string; ipv6Prefix?: string; scope?: string }[];
}
interface AzureFile {
  values?: { properties?: { region?: string; addressPrefixes?: string[] } }[];
}

export function parseCloudRanges(provider: CloudProvider, json: unknown): CloudRange[] {
  const ranges: CloudRange[] = [];
  const add = (cidr: string | undefined, region: string | undefined) => {
    // "GLOBAL" (AWS) and empty regions (Azure's non-regional tags) say nothing about where a client is.
    if (cidr && region && region.toUpperCase() !== 'GLOBAL') ranges.push({ cidr, region: `${provider}:${region.toLowerCase()}` });
  };
  if (provider === 'aws') {
    const file = json as AwsFile;
    for (const p of file.prefixes ?? []) add(p.ip_prefix, p.region);
    for (const p of file.ipv6_prefixes ?? []) add(p.ipv6_prefix, p.region);
  } else if (provider === 'gcp') {
    for (const p of (json as GcpFile).prefixes ?? []) add(p.ipv4Prefix ?? p.ipv6Prefix, p.scope);
  } else {
    for (const tag of (json as AzureFile).values ?? []) {
      for (const cidr of tag.properties?.addressPrefixes ?? []) add(cidr, tag.properties?.region);
    }
  }
  if (ranges.length === 0) throw new Error(`no ${provider} ranges found: is this the provider's published JSON format?`);
  return ranges;
}

export function readCloudRangesFile(provider: CloudProvider, path: string): CloudRange[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${provider} ranges from ${path}: ${errorMessage(error)}`);
  }
  return parseCloudRanges(provider, json);
}

export interface CloudIndex {
  trie: CidrTrie<string>;
  /** Every known `provider:region`, so a config naming a region that does not exist is caught. */
  regions: ReadonlySet<string>;
  providers: ReadonlySet<string>;
}

export function buildCloudIndex(ranges: Iterable<CloudRange>): CloudIndex {
  const trie = new CidrTrie<string>();
  const regions = new Set<string>();
  const providers = new Set<string>();
  for (const range of ranges) {
    trie.insert(range.cidr, range.region);
    regions.add(range.region);
    providers.add(range.region.slice(0, range.region.indexOf(':')));
  }
  return { trie, regions, providers };
}
