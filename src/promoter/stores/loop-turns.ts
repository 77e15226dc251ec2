// Synchronous work done in short stretches: a store that does small file I/O with synchronous
// calls (cheaper than a thread-pool round trip each) awaits `turn()` between files, so that the
// event loop still runs the network work of other destinations every few milliseconds.

/** How long synchronous work may hold the event loop before it yields a turn. */
const DEFAULT_BUDGET_MS = 4;

export class LoopTurns {
  private since = performance.now();
  constructor(private readonly budgetMs = DEFAULT_BUDGET_MS) {}

  /** Resolves at once, or after one event loop turn once the budget since the last turn is spent. */
  async turn(): Promise<void> {
    if (performance.now() - this.since < this.budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
