// The folders below others import only downward: src/util <- src/net <- src/oci <- src/promoter.
// A helper that both need lives in the lower folder (the retry helpers moved to src/net for this).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/redirector.js';

/** What each low folder may import from elsewhere in src/ (Node built-ins and packages are fine). */
const ALLOWED: Record<string, string[]> = {
  util: [],
  net: ['util'],
  oci: ['util', 'net'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

for (const [folder, allowed] of Object.entries(ALLOWED)) {
  test(`src/${folder}/ imports only from ${allowed.length > 0 ? allowed.map((f) => `src/${f}/`).join(', ') : 'itself'}`, (t) => {
    const dir = join(REPO_ROOT, 'src', folder);
    const wrong: string[] = [];
    for (const file of sourceFiles(dir)) {
      for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
        const spec = /^\s*(?:import|export)\b.*\bfrom\s+'(\.\.\/[^']+)'/.exec(line)?.[1];
        const target = spec?.split('/')[1];
        if (target !== undefined && !allowed.includes(target)) wrong.push(`${relative(REPO_ROOT, file)}:${i + 1}: imports ${spec}`);
      }
    }
    t.deepEqual(wrong, []);
  });
}
