// The status page: what the redirector serves from, and the health of every mirror, for the
// people who run it. `/-/status` is HTML (it refreshes itself), `/-/status.json` the same data.
import type { CompiledConfig } from '../config/compiled.js';
import type { MirrorStateView } from '../mirrors/state-view.js';
import type { AuditProgress, Freshness } from '../trust/view.js';
import { escapeMarkup } from './escape.js';

export interface MirrorStatus {
  name: string;
  kind: 'binary' | 'registry' | 'blobs';
  url: string;
  up: boolean;
  reason?: string;
  latencyMs?: number;
  since?: string;
  probe?: string;
  /** Why mirror trust keeps clients away from it (ownership token, altered bytes), when it does. */
  excluded?: string;
  /** How far the mirror is behind production (the background audit), once an audit has covered it. */
  freshness?: Freshness;
}

export interface StatusReport {
  config: string;
  configLoadedAt: string;
  geoip: { source: string; built: string };
  cloudRegions: number;
  routes: { prefix: string; type: string; origin?: string }[];
  mirrors: MirrorStatus[];
  availabilityCache?: Record<string, number>;
  /** The background audit's cycle: units audited of the total, when it started, the last one's length. */
  audit?: AuditProgress;
}

export function statusReport(config: CompiledConfig, state: MirrorStateView, cacheStats?: Record<string, number>): StatusReport {
  const mirrors: MirrorStatus[] = [...config.mirrors.values()].map((mirror) => {
    const health = state.health(mirror.name);
    const status: MirrorStatus = { name: mirror.name, kind: mirror.kind, url: mirror.repository ? `${mirror.base}/v2/${mirror.repository}` : mirror.base, up: health.up };
    if (health.reason) status.reason = health.reason;
    if (health.latencyMs !== undefined) status.latencyMs = Math.round(health.latencyMs * 10) / 10;
    if (health.since !== undefined) status.since = new Date(health.since).toISOString();
    if (mirror.probe) status.probe = mirror.probe.url;
    const excluded = state.trust?.mirrorProblem(mirror.name);
    if (excluded) status.excluded = excluded;
    const freshness = state.trust?.freshness?.(mirror.name);
    if (freshness) status.freshness = roundFreshness(freshness);
    return status;
  });
  const report: StatusReport = {
    config: config.file,
    configLoadedAt: config.loadedAt.toISOString(),
    geoip: { source: config.geo.geoip.source, built: config.geo.geoip.buildDate.toISOString() },
    cloudRegions: config.geo.cloud.regions.size,
    routes: [...config.ociRoutes, ...config.binaryRoutes].map((r) => ({ prefix: r.prefix, type: r.type, ...(r.origin ? { origin: r.origin.name } : {}) })),
    mirrors,
  };
  if (cacheStats) report.availabilityCache = cacheStats;
  const audit = state.trust?.auditProgress?.();
  if (audit) report.audit = audit;
  return report;
}

/** Seconds to a tenth: what a person or a dashboard reads. */
export function roundFreshness(f: Freshness): Freshness {
  const r = (n: number) => Math.round(n * 10) / 10;
  return { behind: f.behind, oldestLagSeconds: r(f.oldestLagSeconds), lagsMeasured: f.lagsMeasured, ...(f.medianLagSeconds !== undefined && { medianLagSeconds: r(f.medianLagSeconds) }) };
}

/** `3 behind, oldest 42 s; median lag 12 s`, or `up to date`: one cell of the status page or a mirror list. */
export function freshnessText(f: Freshness | undefined): string {
  if (!f) return 'not audited yet';
  const state = f.behind === 0 ? 'up to date' : `${f.behind} behind, oldest ${seconds(f.oldestLagSeconds)}`;
  return f.medianLagSeconds === undefined ? state : `${state}; median lag ${seconds(f.medianLagSeconds)}`;
}

function seconds(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

export function statusHtml(report: StatusReport): string {
  const down = report.mirrors.filter((m) => !m.up).length;
  // The freshness column only where an audit runs (a config with trust: expected content).
  const audited = report.mirrors.some((m) => m.freshness);
  const rows = report.mirrors
    .map(
      (m) => `<tr class="${m.up && !m.excluded ? 'up' : 'down'}" data-mirror="${escapeMarkup(m.name)}">
  <td>${escapeMarkup(m.name)}</td><td>${m.kind}</td><td><code>${escapeMarkup(m.url)}</code></td>
  <td class="state">${m.up ? (m.excluded ? 'excluded' : 'up') : 'down'}</td><td>${[m.reason, m.excluded && `excluded: ${m.excluded}`]
    .filter(Boolean)
    .map((r) => escapeMarkup(r as string))
    .join('; ')}</td>
  <td>${m.latencyMs !== undefined ? `${m.latencyMs} ms` : ''}</td><td>${m.since ? escapeMarkup(m.since) : ''}</td><td>${m.probe ? 'probed' : 'not probed'}</td>
  <td class="freshness">${audited ? freshnessText(m.freshness) : ''}</td></tr>`,
    )
    .join('\n');
  const routes = report.routes.map((r) => `<li><code>${escapeMarkup(r.prefix)}</code> (${r.type})${r.origin ? `, origin ${escapeMarkup(r.origin)}` : ''}</li>`).join('');
  const cache = report.availabilityCache
    ? `<h2>Availability cache</h2><p>${Object.entries(report.availabilityCache)
        .map(([k, v]) => `${escapeMarkup(k)}: ${v}`)
        .join(' · ')}</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>artifact-serving status: ${down === 0 ? 'all mirrors up' : `${down} down`}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{padding:.35em .8em;border-bottom:1px solid #ddd;text-align:left}
tr.up .state{color:#0a7d28;font-weight:600}tr.down{background:#fdecec}tr.down .state{color:#b3261e;font-weight:600}
.summary{font-size:1.2em}
</style></head><body>
<h1>artifact-serving</h1>
<p class="summary">${down === 0 ? 'All mirrors up.' : `${down} of ${report.mirrors.length} mirrors down.`}</p>
<table><thead><tr><th>mirror</th><th>kind</th><th>URL</th><th>state</th><th>why</th><th>probe latency</th><th>since</th><th>probes</th><th>freshness</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Routes</h2><ul>${routes}</ul>
${report.audit ? `<p class="audit">Audit cycle ${report.audit.cycle}: ${report.audit.audited} of ${report.audit.total} objects${report.audit.cycleStartedAt ? ` since ${escapeMarkup(report.audit.cycleStartedAt)}` : ''}${report.audit.newlyExpected > 0 ? `, ${report.audit.newlyExpected} newly expected first` : ''}${report.audit.lastCycleSeconds !== undefined ? `; the last cycle took ${seconds(report.audit.lastCycleSeconds)}` : ''}.</p>` : ''}
${cache}
<p>Config <code>${escapeMarkup(report.config)}</code>, loaded ${escapeMarkup(report.configLoadedAt)}. GeoIP: ${escapeMarkup(report.geoip.source)} (built ${escapeMarkup(report.geoip.built)}). Cloud regions known: ${report.cloudRegions}.</p>
<p><small>IP geolocation by <a href="https://db-ip.com">DB-IP</a> (CC BY 4.0).</small></p>
</body></html>
`;
}
