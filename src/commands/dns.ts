// `dns`: the GeoDNS records for the config's public name, on stdout, in the form the operator's
// DNS tooling takes: octoDNS, PowerDNS's geoip backend, or plain zone-file records.
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import { DNS_FORMATS, missingIpv6, octodnsZone, pdnsGeoipZones, zoneRecords, type DnsFormat } from '../dns/records.js';
import type { CliIO } from './io.js';
import { errorMessage } from '../util/error-message.js';

const DEFAULT_GEOIP_DATABASE = '/usr/share/GeoIP/GeoLite2-Country.mmdb';
const DEFAULT_ZONES_FILE = '/etc/powerdns/geoip-zones.yaml';

const HELP = `Usage: artifact-serving dns --config FILE --format octodns|pdns-geoip|zone [options]

Writes the GeoDNS records for the config's dns.name to stdout, from its dns: and redirectors:
sections: a client's country, if a redirector claims it, else its continent, else the default
redirector.

Formats:
  octodns      an octoDNS zone file (<zone>.yaml) with dynamic A/AAAA records: geo rules per
               redirector, each pool falling back to the default, health-checked at /readyz
  pdns-geoip   a PowerDNS geoip-backend zones file, with the pdns.conf lines that serve it in
               its header (they name a MaxMind-schema country database, e.g. GeoLite2-Country)
  zone         plain zone-file A/AAAA records for each redirector's own regional name

Options:
  --config FILE            redirector config with dns: and redirectors: (required)
  --format F               one of the formats above (required)
  --geoip-database PATH    pdns-geoip: the .mmdb named in pdns.conf (default ${DEFAULT_GEOIP_DATABASE})
  --zones-file PATH        pdns-geoip: where the zones file will live (default ${DEFAULT_ZONES_FILE})
`;

export function dnsCommand(args: string[], io: CliIO): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      format: { type: 'string' },
      'geoip-database': { type: 'string', default: DEFAULT_GEOIP_DATABASE },
      'zones-file': { type: 'string', default: DEFAULT_ZONES_FILE },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (!values.config || !values.format || positionals.length > 0) {
    io.stderr(`dns needs --config and --format, and no other arguments\n\n${HELP}`);
    return 2;
  }
  if (!(DNS_FORMATS as readonly string[]).includes(values.format)) {
    io.stderr(`--format: "${values.format}" is not one of ${DNS_FORMATS.join(', ')}\n`);
    return 2;
  }
  const loaded = loadConfigFile(values.config);
  if (!loaded.ok) {
    io.stderr(`${loaded.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  const dns = loaded.config.geoDns;
  if (!dns) {
    io.stderr(`${values.config}: no dns: and redirectors: sections: nothing to generate (see docs/deployment.md, "GeoDNS in front")\n`);
    return 1;
  }
  const noV6 = missingIpv6(dns);
  if (noV6 && values.format !== 'zone') io.stderr(`note: no AAAA records for ${dns.name}: ${noV6}\n`);
  const format = values.format as DnsFormat;
  let text: string;
  try {
    text = format === 'octodns' ? octodnsZone(dns) : format === 'pdns-geoip' ? pdnsGeoipZones(dns, { zonesFile: values['zones-file'], databaseFile: values['geoip-database'] }) : zoneRecords(dns);
  } catch (error) {
    io.stderr(`${values.config}: ${errorMessage(error)}\n`);
    return 1;
  }
  io.stdout(text);
  return 0;
}
