// Prometheus metrics for the redirector, on a registry of its own (no process-wide default),
// so two apps in one process (tests) do not share counters.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface RedirectorMetrics {
  registry: Registry;
  requests: Counter<'type' | 'status' | 'mirror' | 'region'>;
  /** Counts one answered request; cheaper than requests.inc() with a label object on the hot path. */
  countRequest(type: string, status: number, mirror: string, region: string): void;
  configReloads: Counter<'result'>;
  configLoadedAt: Gauge;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): RedirectorMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'artifact_requests_total',
    help: 'Requests answered, by route type (oci, binary), HTTP status, chosen mirror and the region that chose it.',
    labelNames: ['type', 'status', 'mirror', 'region'] as const,
    registers: [registry],
  });
  // prom-client hashes a label object on every inc(); label combinations are few, so keep the children.
  const children = new Map<string, { inc(): void }>();
  return {
    registry,
    requests,
    countRequest(type, status, mirror, region) {
      const key = `${type}\0${status}\0${mirror}\0${region}`;
      let child = children.get(key);
      if (!child) {
        child = requests.labels({ type, status: String(status), mirror, region });
        children.set(key, child);
      }
      child.inc();
    },
    configReloads: new Counter({
      name: 'artifact_config_reloads_total',
      help: 'Config reloads by result (ok, invalid).',
      labelNames: ['result'],
      registers: [registry],
    }),
    configLoadedAt: new Gauge({
      name: 'artifact_config_loaded_timestamp_seconds',
      help: 'When the config now serving was loaded.',
      registers: [registry],
    }),
  };
}
