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

  reload(): LoadResult {
    const result = loadConfigFile(this.file);
    if (result.ok) this.config = result.config;
    for (const listener of this.listeners) listener(result);
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
