// Owns the current compiled config. A reload compiles the new file completely first and swaps
// it in one assignment: requests in flight keep the config they started with, and a bad file
// leaves the old one serving.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { CompiledConfig } from './compiled.js';
import { loadConfigFile, type LoadResult } from './load.js';

export interface ReloadListener {
  (result: LoadResult): void;
}

export class ConfigHolder {
  private config: CompiledConfig;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly listeners: ReloadListener[] = [];

  constructor(readonly file: string, initial: CompiledConfig) {
    this.config = initial;
  }

  get current(): CompiledConfig {
    return this.config;
  }

  onReload(listener: ReloadListener): void {
    this.listeners.push(listener);
  }

  /** Never throws: whatever the file holds, the answer is a config or problems, and the old config keeps serving. */
  reload(): LoadResult {
    let result: LoadResult;
    try {
      result = loadConfigFile(this.file);
    } catch (error) {
      // loadConfigFile reports bad files as problems; this is the net under a bug in it, since a
      // throw here would come from a signal handler or a timer and stop the process.
      result = { ok: false, problems: [{ file: this.file, line: 1, column: 1, message: `cannot load config: ${(error as Error).message}` }] };
    }
    if (result.ok) this.config = result.config;
    for (const listener of this.listeners) {
      try {
        listener(result);
      } catch (error) {
        // A listener's failure (logging, metrics) must not stop the others or the process.
        process.emitWarning(error as Error);
      }
    }
    return result;
  }

  /** Reloads when the file changes. Watches the directory: editors and ConfigMaps replace files by rename. */
  watchFile(debounceMs = 100): void {
    if (this.watcher) return;
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..data')) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), debounceMs);
    });
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
