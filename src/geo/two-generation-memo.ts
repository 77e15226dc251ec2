// A bounded memo for the redirect path's per-client answers, cheaper than an LRU list: new
// entries go into a young Map, and when it is full it becomes the old one and the previous old
// generation is dropped whole. A hit in the old generation is copied to the young one, so an
// entry used at least once per half of the capacity's insertions stays, as in an LRU. With a
// new client on every request (every lookup a miss and an eviction), lru-cache's list upkeep
// and per-entry eviction were about a third of the locate path's CPU; here a miss is two Map
// reads and one write.
export class TwoGenerationMemo<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  /** At most `max` entries are held (in two generations of max / 2). */
  constructor(max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: K): V | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.half && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
