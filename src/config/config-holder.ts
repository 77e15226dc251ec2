// Owns the current compiled config. A reload compiles the new file completely first and swaps
// it in one assignment: requests in flight keep the config they started with, and a bad file
// leaves the old one serving.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { CompiledConfig } from './compiled.js';
import { loadConfigText, type LoadResult } from './load.js';
import { errorMessage } from '../util/error-message.js';

export type ReloadListener = (result: LoadResult) => void;

export class ConfigHolder {
  private config: CompiledConfig;
  /** One watcher per directory holding the config or a file it was built from. */
  private readonly watchers = new Map<string, FSWatcher>();
  /** The names watched in each directory. */
  private watched = new Map<string, Set<string>>();
  private debounceMs: number | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly listeners: ReloadListener[] = [];

  /**
   * @param text what `initial` was compiled from, when known: `serve --workers` hands the text of
   * each accepted config to its workers, so all of them compile the same file.
   */
  constructor(
    readonly file: string,
    initial: CompiledConfig,
    private configText?: string,
  ) {
    this.config = initial;
  }

  /** The text of the config now serving (undefined when the holder was given a compiled config only). */
  get text(): string | undefined {
    return this.configText;
  }

  get current(): CompiledConfig {
    return this.config;
  }

  onReload(listener: ReloadListener): void {
    this.listeners.push(listener);
  }

  /**
   * Never throws: whatever the file holds, the answer is a config or problems, and the old config
   * keeps serving. `text` is the file's content when the caller read it already (a worker of
   * `serve --workers`, from its primary); otherwise the file is read.
   */
  reload(text?: string): LoadResult {
    let result: LoadResult;
    try {
      result = this.load(text);
    } catch (error) {
      // loadConfigFile reports bad files as problems; this is the net under a bug in it, since a
      // throw here would come from a signal handler or a timer and stop the process.
      result = { ok: false, problems: [{ file: this.file, line: 1, column: 1, message: `cannot load config: ${errorMessage(error)}` }] };
    }
    if (result.ok) {
      this.config = result.config;
      this.configText = this.lastText;
      // The new config may name other checksum manifests: watch those from now on.
      if (this.debounceMs !== undefined) this.watchFiles();
    }
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

  /**
   * Reloads when the file, or a checksum manifest it names, changes. Watches directories: editors
   * and ConfigMaps replace files by rename.
   */
  watchFile(debounceMs = 100): void {
    if (this.debounceMs !== undefined) return;
    this.debounceMs = debounceMs;
    this.watchFiles();
  }

  close(): void {
    clearTimeout(this.debounce);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.debounceMs = undefined;
  }

  private lastText: string | undefined;

  private load(text: string | undefined): LoadResult {
    if (text === undefined) {
      try {
        text = readFileSync(this.file, 'utf8');
      } catch (error) {
        this.lastText = undefined;
        return { ok: false, problems: [{ file: this.file, line: 1, column: 1, message: `cannot read config: ${errorMessage(error)}` }] };
      }
    }
    this.lastText = text;
    return loadConfigText(this.file, text);
  }

  private watchFiles(): void {
    const wanted = new Map<string, Set<string>>();
    for (const file of [this.file, ...(this.config.dependencies ?? [])]) {
      const dir = dirname(resolve(file));
      const names = wanted.get(dir) ?? new Set<string>();
      names.add(basename(file));
      wanted.set(dir, names);
    }
    this.watched = wanted;
    for (const [dir, watcher] of this.watchers) {
      if (wanted.has(dir)) continue;
      watcher.close();
      this.watchers.delete(dir);
    }
    for (const dir of wanted.keys()) {
      if (this.watchers.has(dir)) continue;
      this.watchers.set(
        dir,
        watch(dir, (_event, changed) => {
          if (changed !== null && !this.watched.get(dir)?.has(changed) && !changed.startsWith('..data')) return;
          clearTimeout(this.debounce);
          this.debounce = setTimeout(() => this.reload(), this.debounceMs);
        }),
      );
    }
  }
}
