// Temp folders for tests, removed when the test file's process exits. ava runs each test file in a
// process of its own (workerThreads: false), so a folder lives as long as any test of the file may
// read it, and a failed or timed-out test leaves nothing behind in /tmp either (thousands of config
// folders had piled up there before).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

function removeAll(): void {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder a peer still writes into (or one made root-only by a peer) must not turn a
      // passing file into a failing exit; what is left is only disk space.
    }
  }
}

/** A new folder under the system temp folder, named `<prefix>XXXXXX`, removed at process exit. */
export function tempDir(prefix: string): string {
  if (made.length === 0) process.once('exit', removeAll);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
