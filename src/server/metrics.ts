// Prometheus metrics for the redirector, on a registry of its own (no process-wide default),
// so two apps in one process (tests) do not share counters.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface RedirectorMetrics {
  registry: Registry;
  requests: Counter<'type' | 'status' | 'mirror' | 'region'>;
  configReloads: Counter<'result'>;
  configLoadedAt: Gauge;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): RedirectorMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'artifact_requests_total',
      help: 'Requests answered, by route type (oci, binary, other), HTTP status, chosen mirror and the region that chose it.',
      labelNames: ['type', 'status', 'mirror', 'region'],
      registers: [registry],
    }),
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
