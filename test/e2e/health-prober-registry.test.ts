// The health prober against a real docker-registry that stops and comes back.
import test from 'ava';
import { HealthProber } from '../../src/mirrors/health-prober.js';
import { startRegistry } from '../helpers/peers.js';

test('real docker-registry: up, down once stopped (after fall probes), up again after restart and rise probes', async (t) => {
  let registry = await startRegistry();
  t.teardown(() => registry.stop());
  const prober = new HealthProber([{ name: 'reg', probeUrl: `${registry.url}/v2/`, intervalMs: 10_000, timeoutMs: 1_000, rise: 2, fall: 2 }]);
  await prober.probeNow();
  t.true(prober.health('reg').up);
  await registry.stop();
  await prober.probeNow();
  t.true(prober.health('reg').up, 'one lost probe does not flap');
  await prober.probeNow();
  t.false(prober.health('reg').up);
  registry = await startRegistry({ dir: registry.dir, port: registry.port });
  await prober.probeNow();
  await prober.probeNow();
  t.true(prober.health('reg').up);
  await prober.stop();
});
