// Builds the live MirrorState for a compiled config and keeps it in step with reloads: the
// probes follow the mirrors in the config; the cache (sized at start) keeps what it learned.
import type { CompiledConfig } from '../config/compiled.js';
import type { LoggerLike, ProbeTarget } from './health-prober.js';
import { MirrorState } from './mirror-state.js';

export function probeTargets(config: CompiledConfig): ProbeTarget[] {
  const targets: ProbeTarget[] = [];
  for (const mirror of config.mirrors.values()) {
    if (!mirror.probe) continue;
    const { url, intervalMs, timeoutMs, rise, fall } = mirror.probe;
    targets.push({ name: mirror.name, probeUrl: url, intervalMs, timeoutMs, rise, fall });
  }
  return targets;
}

export function createMirrorState(config: CompiledConfig, logger?: LoggerLike): MirrorState {
  const { availability, breakerThreshold } = config.health;
  return new MirrorState({
    probes: probeTargets(config),
    breakerThreshold,
    ...(logger && { logger }),
    cache: {
      maxEntries: availability.maxEntries,
      maxSizeBytes: availability.maxBytes,
      ttls: {
        immutablePresentMs: availability.presentMs,
        tagPresentMs: availability.tagMs,
        absentMs: availability.absentMs,
        errorMs: availability.errorMs,
        staleMs: availability.staleMs,
        verifyMs: availability.verifyMs,
      },
    },
  });
}

/** Keeps the live state in step with a reloaded config: new probes, and no cached answers for a
 *  mirror whose name now points somewhere else (they would be about another server). */
export function applyReload(state: MirrorState, previous: CompiledConfig, next: CompiledConfig): void {
  state.replaceMirrors(probeTargets(next));
  for (const [name, mirror] of previous.mirrors) {
    const now = next.mirrors.get(name);
    if (!now || now.base !== mirror.base || now.repository !== mirror.repository || now.layout !== mirror.layout) state.forgetMirror(name);
  }
}
