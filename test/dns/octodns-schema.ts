// octoDNS's documented shape for a YamlProvider zone file with dynamic records
// (docs/records.md, docs/dynamic_records.md), as a zod schema plus the documented rule checks:
// pools with values (weight 1-100, status up/down/obey), fallbacks that exist and do not loop,
// rules naming existing pools, no pool targeted by two geo rules, geo codes CONTINENT[-CC[-SUB]]
// with a specific code never after its parent, a final catch-all rule, and no unused pool.
// octoDNS itself is Python and not installable here; this is the check a reviewer would do.
import { isIPv4, isIPv6 } from 'node:net';
import { countries } from 'countries-list';
import { z } from 'zod';

const CONTINENTS = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'];

const poolValue = z.strictObject({
  value: z.string(),
  weight: z.number().int().min(1).max(100).optional(),
  status: z.enum(['up', 'down', 'obey']).optional(),
});
const pool = z.strictObject({ values: z.array(poolValue).min(1), fallback: z.string().optional() });
const rule = z.strictObject({ pool: z.string(), geos: z.array(z.string()).min(1).optional(), subnets: z.array(z.string()).min(1).optional() });
const healthcheck = z.strictObject({ host: z.string().optional(), path: z.string().optional(), port: z.number().int().optional(), protocol: z.enum(['HTTP', 'HTTPS', 'TCP']).optional() });

const record = z
  .strictObject({
    type: z.enum(['A', 'AAAA', 'CNAME', 'NS', 'MX', 'TXT']),
    ttl: z.number().int().positive().optional(),
    value: z.string().optional(),
    values: z.array(z.string()).min(1).optional(),
    dynamic: z.strictObject({ pools: z.record(z.string(), pool), rules: z.array(rule).min(1) }).optional(),
    octodns: z.strictObject({ healthcheck: healthcheck.optional() }).optional(),
  })
  .refine((r) => (r.value === undefined) !== (r.values === undefined), 'a record has value or values, not both');

export const octodnsZoneSchema = z.record(z.string().regex(/^(|\*|[a-z0-9_*]([a-z0-9_.-]*[a-z0-9])?)$/), z.union([record, z.array(record).min(1)]));

function geoProblems(code: string): string[] {
  const [continent, country, sub, ...rest] = code.split('-');
  if (rest.length > 0 || !continent) return [`invalid geo code "${code}"`];
  if (!CONTINENTS.includes(continent)) return [`unknown continent code "${code}"`];
  if (country !== undefined && !(country in countries)) return [`unknown country code "${code}"`];
  if (sub !== undefined && !/^[A-Z0-9]{1,3}$/.test(sub)) return [`unknown province code "${code}"`];
  return [];
}

/** Every problem octoDNS's documented validation would report for the zone file's records. */
export function octodnsProblems(data: unknown): string[] {
  const parsed = octodnsZoneSchema.safeParse(data);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  const problems: string[] = [];
  for (const [name, value] of Object.entries(parsed.data)) {
    const records = Array.isArray(value) ? value : [value];
    const types = records.map((r) => r.type);
    if (new Set(types).size !== types.length) problems.push(`${name}: a type twice`);
    for (const r of records) {
      const at = `${name || "''"} ${r.type}`;
      const isAddress = r.type === 'A' ? isIPv4 : r.type === 'AAAA' ? isIPv6 : () => true;
      for (const v of r.values ?? [r.value!]) if (!isAddress(v)) problems.push(`${at}: invalid ${r.type} value "${v}"`);
      if (!r.dynamic) continue;
      const { pools, rules } = r.dynamic;
      const fallbacks = new Set<string>();
      for (const [id, p] of Object.entries(pools)) {
        for (const v of p.values) if (!isAddress(v.value)) problems.push(`${at}: pool "${id}": invalid value "${v.value}"`);
        if (p.fallback !== undefined) {
          if (!(p.fallback in pools)) problems.push(`${at}: undefined fallback "${p.fallback}" for pool "${id}"`);
          fallbacks.add(p.fallback);
          const seen = [id];
          for (let next: string | undefined = p.fallback; next !== undefined; next = pools[next]?.fallback) {
            if (seen.includes(next)) {
              problems.push(`${at}: loop in pool fallbacks: ${[...seen, next].join(' -> ')}`);
              break;
            }
            seen.push(next);
          }
        }
      }
      const targeted = new Set<string>();
      const geosSeen = new Map<string, number>();
      let catchAll = 0;
      rules.forEach((rl, i) => {
        const n = i + 1;
        if (!(rl.pool in pools)) problems.push(`${at}: rule ${n} undefined pool "${rl.pool}"`);
        else if (targeted.has(rl.pool) && rl.geos) problems.push(`${at}: rule ${n} invalid, target pool "${rl.pool}" reused`);
        targeted.add(rl.pool);
        if (!rl.geos && !rl.subnets && ++catchAll > 1) problems.push(`${at}: rule ${n} duplicate default`);
        for (const geo of [...(rl.geos ?? [])].sort()) {
          problems.push(...geoProblems(geo).map((m) => `${at}: rule ${n} ${m}`));
          for (const [seen, where] of geosSeen) {
            if (geo === seen) problems.push(`${at}: rule ${n} targets geo ${geo} which has previously been seen in rule ${where}`);
            else if (geo.startsWith(seen)) problems.push(`${at}: rule ${n} targets geo ${geo} which is more specific than the previously seen ${seen} in rule ${where}`);
          }
          geosSeen.set(geo, n);
        }
      });
      if (rules[rules.length - 1]!.geos) problems.push(`${at}: final rule has "geos" and is not catchall`);
      const unused = Object.keys(pools).filter((id) => !targeted.has(id) && !fallbacks.has(id));
      if (unused.length > 0) problems.push(`${at}: unused pools: "${unused.sort().join('", "')}"`);
    }
  }
  return problems;
}
