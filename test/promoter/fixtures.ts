// Helpers shared by the promoter's unit tests: the real k8s.io manifests (read in place, never
// copied) and a temporary manifests tree built from inline YAML.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.js';

export const K8S_IO = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/testdata/promoter/k8s.io');

/** Write `files` (relative path -> text) under a new temporary directory. */
export async function tree(files: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = tempDir('promoter-test-');
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const D1 = `sha256:${'1'.repeat(64)}`;
export const D2 = `sha256:${'2'.repeat(64)}`;
export const D3 = `sha256:${'3'.repeat(64)}`;
