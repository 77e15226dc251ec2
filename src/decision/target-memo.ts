// What a request path names under one compiled config (its route, the object's URL on each
// mirror, its availability key, what trust needs), memoised by path for the server. Working it
// out checks the path against regular expressions (for an OCI blob: the name, the digest and the
// path's shape) and builds keys and closures: 0.4 µs of decide()'s 1.5 µs on a binary path and
// about 1 µs of 2.5 µs on a blob path, in-process. A pull asks for the same few paths again and
// again, so the server keeps the answers; only paths without a query string are kept (the
// query goes into the mirror URL), and the memo starts over when the config changes.
import { LRUCache } from 'lru-cache';
import type { CompiledConfig } from '../config/compiled.js';

/**
 * Paths kept: the hot set of objects being pulled. A kept target costs about 1.3 KiB (a binary
 * path) to 1.7 KiB (an OCI blob), outside the availability cache's byte budget: 8,192 held
 * 10.5-13.5 MiB; 2,048 keep the popular objects of many concurrent pulls for about 3 MiB.
 */
const DEFAULT_PATHS = 2048;

export class TargetMemo<T extends object> {
  private readonly byPath: LRUCache<string, T>;
  /**
   * Paths asked for once since they were last cleared: a path is kept only when asked for again
   * (a doorkeeper, as in TinyLFU). Keeping every path at once made a flood of distinct objects
   * hold each target for thousands of requests, long enough to be promoted to the old
   * generation: the flood's peak RSS (test/e2e/memory-flood) rose from 309 to 348 MiB on Node 24,
   * against 384 MiB for the pod, with 8,192 paths kept or 2,048 alike. A path string is a tenth
   * of a target.
   */
  private readonly seen = new Set<string>();
  private config: CompiledConfig | undefined;

  constructor(
    max = DEFAULT_PATHS,
    private readonly doorkeeper = 2 * max,
  ) {
    this.byPath = new LRUCache<string, T>({ max });
  }

  get size(): number {
    return this.byPath.size;
  }

  /** The memoised answer for this path under this config; another config starts the memo over. */
  get(config: CompiledConfig, path: string): T | undefined {
    if (config !== this.config) {
      this.byPath.clear();
      this.seen.clear();
      this.config = config;
      return undefined;
    }
    return this.byPath.get(path);
  }

  /** Offers the answer for a path: kept from the second time the path is offered. */
  set(config: CompiledConfig, path: string, value: T): void {
    if (config !== this.config) return;
    if (this.seen.delete(path)) {
      this.byPath.set(path, value);
      return;
    }
    if (this.seen.size >= this.doorkeeper) this.seen.clear();
    this.seen.add(path);
  }
}
