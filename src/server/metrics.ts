// Prometheus metrics for the redirector, on a registry of its own (no process-wide default),
// so two apps in one process (tests) do not share counters.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { CompiledConfig } from '../config/compiled.js';
import type { MirrorStateStats } from '../mirrors/mirror-state.js';
import type { MirrorStateView } from '../mirrors/state-view.js';

export interface RedirectorMetrics {
  registry: Registry;
  requests: Counter<'type' | 'status' | 'mirror' | 'region'>;
  /** Counts one answered request; cheaper than requests.inc() with a label object on the hot path. */
  countRequest(type: string, status: number, mirror: string, region: string): void;
  configReloads: Counter<'result'>;
  configLoadedAt: Gauge;
  /** Manifest requests refused with 429 by the rate limit. */
  rateLimited: Counter;
  /** Availability-cache purges (SIGHUP, POST /-/purge) by scope: all, mirror, object. */
  availabilityPurges: Counter<'scope'>;
  /** Exposes how many clients the rate limiter tracks, read at scrape time. */
  observeRateLimiter(clients: () => number): void;
  /**
   * What GET /metrics answers; registry.metrics() unless set. A worker of `serve --workers` sets it
   * to ask its primary for every worker's metrics, aggregated.
   */
  exposition?: () => Promise<string>;
  /** Exposes mirror health and availability-cache figures, read at scrape time. */
  observeMirrors(config: () => CompiledConfig, state: MirrorStateView & { stats(): MirrorStateStats }): void;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): RedirectorMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  // Counted in plain numbers per label combination (few) and handed to prom-client at scrape
  // time: a child's inc() still hashes its labels, which cost as much as a tenth of a redirect.
  // Found through nested maps of the labels as given, not a key joined from them: the mirror
  // and region names come from the config, so their hashes are computed once, not per request.
  type Pending = { labels: { type: string; status: string; mirror: string; region: string }; count: number };
  const pending: Pending[] = [];
  const byLabels = new Map<string, Map<number, Map<string, Map<string, Pending>>>>();
  const requests = new Counter({
    name: 'artifact_requests_total',
    help: 'Requests answered, by route type (oci, binary), HTTP status, chosen mirror and the region that chose it.',
    labelNames: ['type', 'status', 'mirror', 'region'] as const,
    registers: [registry],
    collect() {
      for (const entry of pending) {
        if (entry.count === 0) continue;
        this.inc(entry.labels, entry.count);
        entry.count = 0;
      }
    },
  });
  return {
    registry,
    requests,
    countRequest(type, status, mirror, region) {
      let byStatus = byLabels.get(type);
      if (!byStatus) {
        byStatus = new Map();
        byLabels.set(type, byStatus);
      }
      let byMirror = byStatus.get(status);
      if (!byMirror) {
        byMirror = new Map();
        byStatus.set(status, byMirror);
      }
      let byRegion = byMirror.get(mirror);
      if (!byRegion) {
        byRegion = new Map();
        byMirror.set(mirror, byRegion);
      }
      const entry = byRegion.get(region);
      if (entry) entry.count++;
      else {
        const created = { labels: { type, status: String(status), mirror, region }, count: 1 };
        byRegion.set(region, created);
        pending.push(created);
      }
    },
    configReloads: new Counter({
      name: 'artifact_config_reloads_total',
      help: 'Config reloads by result (ok, invalid).',
      labelNames: ['result'],
      // Under `serve --workers`, every worker counts each reload: the longest-lived one has them all.
      aggregator: 'max',
      registers: [registry],
    }),
    configLoadedAt: new Gauge({
      name: 'artifact_config_loaded_timestamp_seconds',
      help: 'When the config now serving was loaded.',
      // Under `serve --workers`, the oldest any worker serves.
      aggregator: 'min',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'artifact_rate_limited_total',
      help: 'Manifest requests refused with 429 by the per-client rate limit.',
      registers: [registry],
    }),
    availabilityPurges: new Counter({
      name: 'artifact_availability_purges_total',
      help: 'Availability-cache purges (SIGHUP, POST /-/purge) by scope: all, mirror, object.',
      labelNames: ['scope'],
      registers: [registry],
    }),
    observeRateLimiter(clients) {
      new Gauge({
        name: 'artifact_rate_limit_clients',
        help: 'Clients (IPv4 addresses, IPv6 /64s) the rate limiter tracks now.',
        registers: [registry],
        collect() {
          this.set(clients());
        },
      });
    },
    observeMirrors(config, state) {
      new Gauge({
        name: 'artifact_mirror_up',
        help: 'Whether a mirror is taken as up (probes and breaker), by mirror.',
        labelNames: ['mirror'],
        registers: [registry],
        // Under `serve --workers`, each worker probes for itself: the share of workers that take it as up.
        aggregator: 'average',
        collect() {
          this.reset();
          for (const name of config().mirrors.keys()) this.set({ mirror: name }, state.health(name).up ? 1 : 0);
        },
      });
      const cacheGauge = (name: string, help: string, read: (stats: MirrorStateStats) => number) =>
        new Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            this.set(read(state.stats()));
          },
        });
      cacheGauge('artifact_availability_cache_entries', 'Objects whose availability on a mirror is cached.', (s) => s.entries);
      cacheGauge('artifact_availability_cache_bytes', 'Approximate bytes held by the availability cache.', (s) => s.sizeBytes);
      cacheGauge('artifact_availability_heads_total', 'HEAD requests sent to mirrors to check availability.', (s) => s.headsSent);
      cacheGauge('artifact_availability_cache_hits_total', 'Availability answers served from cache.', (s) => s.hits + s.staleHits);
      cacheGauge('artifact_availability_cache_misses_total', 'Availability lookups with nothing cached.', (s) => s.misses);
      cacheGauge('artifact_mirror_breakers_open', 'Mirrors taken out by failed availability checks.', (s) => s.openBreakers);
    },
  };
}
