// The peer the redirect path is measured against: nginx with the geoip2 module, configured to
// route exactly as the bench config does, from the same DB-IP database, the same cloud ranges and
// the same continent table. The tables are worked out by our own candidate ranking
// (candidatesFor) for every country and cloud region, so nginx does per request only what a
// hand-written config would: geoip2 and geo lookups, map lookups, return. bench/run.ts checks
// that both give the same Location for a sample of clients before it measures anything.
import { countries } from 'countries-list';
import type { CompiledConfig, CompiledRoute } from '../src/config/compiled.js';
import type { CloudRange } from '../src/geo/cloud-ranges.js';
import { parseIp } from '../src/geo/ip.js';
import { continentOf } from '../src/geo/regions.js';
import { candidatesFor } from '../src/mirrors/candidates.js';

const ANY_ADDRESS = parseIp('192.0.2.1')!;

/** The mirror a client with these facts gets on a route (first candidate), and whether a region other than the default chose it. */
function firstMirror(route: CompiledRoute, facts: { country?: string; cloud?: string }): { name: string; byRegion: boolean } {
  const continent = continentOf(facts.country);
  const client = { ip: ANY_ADDRESS, ...facts, ...(continent && { continent }) };
  const first = candidatesFor(route, client)[0]!;
  return { name: first.mirror.name, byRegion: first.region !== route.default.region };
}

function routeMaps(tag: string, route: CompiledRoute, cloudRegions: ReadonlySet<string>): string {
  if (route.cidrs.size > 0) throw new Error(`route ${route.prefix}: CIDR regions are not translated to nginx`);
  if (route.default.tiers.some((tier) => tier.length > 1)) throw new Error(`route ${route.prefix}: weighted tiers are not translated to nginx`);
  const byCountry: string[] = [];
  for (const code of Object.keys(countries)) byCountry.push(`    ${code} ${firstMirror(route, { country: code }).name};`);
  const byCloud: string[] = [];
  for (const region of cloudRegions) {
    const chosen = firstMirror(route, { cloud: region });
    if (chosen.byRegion) byCloud.push(`    "${region}" ${chosen.name};`);
  }
  return `  map $geoip2_country $${tag}_by_country {
    default ${route.default.mirrors[0]!.name};
${byCountry.join('\n')}
  }
  map $cloud_region $${tag}_by_cloud {
    default "";
${byCloud.join('\n')}
  }
  map $${tag}_by_cloud $${tag}_mirror {
    "" $${tag}_by_country;
    default $${tag}_by_cloud;
  }
`;
}

export interface NginxRoutingOptions {
  dir: string;
  port: number;
  mmdb: string;
  config: CompiledConfig;
  cloudRanges: readonly CloudRange[];
  /** Where nginx writes its access log (JSON lines, buffered like ours). */
  accessLog: string;
}

/** nginx.conf for the bench config's /binaries (binary) and /v2/ (OCI) routes. */
export function nginxRoutingConf(options: NginxRoutingOptions): string {
  const { config, dir } = options;
  const binary = config.binaryRoutes.find((r) => r.prefix === '/binaries');
  const oci = config.ociRoutes.find((r) => r.namePrefix === '');
  if (!binary || !oci) throw new Error('the bench config needs a /binaries route and a /v2/ route');
  // First declaration wins, as in our CIDR trie.
  const seen = new Set<string>();
  const geo: string[] = [];
  for (const range of options.cloudRanges) {
    if (seen.has(range.cidr)) continue;
    seen.add(range.cidr);
    geo.push(`    ${range.cidr} "${range.region}";`);
  }
  const regions = new Set(options.cloudRanges.map((r) => r.region));
  const bases: string[] = [];
  for (const mirror of config.mirrors.values()) {
    const base = mirror.kind === 'registry' ? `${mirror.base}/v2/${mirror.repository ? `${mirror.repository}/` : ''}` : `${mirror.base}/`;
    bases.push(`    ${mirror.name} "${base}";`);
  }
  return `load_module /usr/lib/nginx/modules/ngx_http_geoip2_module.so;
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  # The same fields as our access log, one JSON line each, written in 64 KiB batches as ours is.
  log_format json escape=json '{"time":$msec,"method":"$request_method","path":"$uri","status":$status,"ip":"$remote_addr","country":"$geoip2_country","cloud":"$cloud_region","mirror":"$sent_http_x_artifact_mirror","ua":"$http_user_agent"}';
  access_log ${options.accessLog} json buffer=64k flush=1s;
  # Only the bench's proxy (loopback) may say who the client is.
  set_real_ip_from 127.0.0.1/32;
  real_ip_header X-Forwarded-For;
  real_ip_recursive on;
  geoip2 ${options.mmdb} {
    $geoip2_country country_code;
  }
  geo $cloud_region {
    default "";
${geo.join('\n')}
  }
${routeMaps('bin', binary, regions)}${routeMaps('oci', oci, regions)}  map $bin_mirror $bin_base {
${bases.join('\n')}
  }
  map $oci_mirror $oci_base {
${bases.join('\n')}
  }
  server {
    listen 127.0.0.1:${options.port};
    location ~ ^/binaries/(?<rest>.+)$ {
      add_header Cache-Control "private, max-age=0";
      add_header X-Artifact-Mirror $bin_mirror;
      return 302 $bin_base$rest;
    }
    location ~ "^/v2/(?<name>.+)/blobs/(?<digest>sha256:[a-f0-9]{64})$" {
      add_header Docker-Distribution-Api-Version registry/2.0;
      add_header Cache-Control "private, max-age=0";
      add_header X-Artifact-Mirror $oci_mirror;
      return 307 $oci_base$name/blobs/$digest;
    }
  }
}
`;
}
