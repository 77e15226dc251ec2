// The certificate and key for `serve --tls-cert/--tls-key`, read and checked together, and
// reloaded when either file changes (cert-manager and Kubernetes Secrets replace them by a
// rename in the directory) or on SIGHUP. A bad pair is reported and the one serving stays.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { basename, dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { errorMessage } from '../util/error-message.js';

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** Reads both files and checks that they make a usable pair; throws an error that names the file. */
export function readTlsPair(files: TlsFiles): TlsPair {
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read TLS ${what} ${file}: ${errorMessage(error)}`);
    }
  };
  const pair = { cert: read('certificate', files.cert), key: read('key', files.key) };
  try {
    createSecureContext(pair);
  } catch (error) {
    throw new Error(`TLS certificate ${files.cert} and key ${files.key} are not a usable pair: ${errorMessage(error)}`);
  }
  return pair;
}

export interface TlsReloader {
  /** Reads the files again and swaps them in; returns the error when the new pair is refused. */
  reload(): Error | undefined;
  close(): void;
}

/** Keeps `server`'s certificate in step with the files; `onResult` hears of each reload. */
export function watchTlsFiles(server: HttpsServer, files: TlsFiles, onResult: (error?: Error) => void, debounceMs = 100): TlsReloader {
  let debounce: NodeJS.Timeout | undefined;
  const reload = () => {
    let error: Error | undefined;
    try {
      server.setSecureContext(readTlsPair(files));
    } catch (caught) {
      error = caught as Error;
    }
    onResult(error);
    return error;
  };
  const watchers: FSWatcher[] = [];
  const names = new Map<string, Set<string>>();
  for (const file of [files.cert, files.key]) {
    const dir = dirname(file);
    if (!names.has(dir)) names.set(dir, new Set());
    names.get(dir)!.add(basename(file));
  }
  for (const [dir, watched] of names) {
    watchers.push(
      watch(dir, (_event, changed) => {
        if (changed !== null && !watched.has(changed) && !changed.startsWith('..data')) return;
        clearTimeout(debounce);
        debounce = setTimeout(reload, debounceMs);
      }),
    );
  }
  return {
    reload,
    close() {
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
    },
  };
}
