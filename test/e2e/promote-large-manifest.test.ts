// Issue 7: validating a 50 MB images.yaml took 1.43 GB (2.4 GB and 78 s here, the yaml library's
// whole-document tree). It is now read item by item; the whole command must stay well under 500 MB.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const ITEMS = 4660; // x 100 digests x ~112 bytes = 50 MiB
const BAD_ITEM = 4000;

test('validate a 50 MB images.yaml: peak RSS well under 500 MB, findings at the right file:line:column', async (t) => {
  t.timeout(240_000);
  const dir = tempDir('promoter-large-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'manifests/k8s-staging-big'), { recursive: true });
  await mkdir(join(dir, 'images/k8s-staging-big'), { recursive: true });
  await writeFile(join(dir, 'manifests/k8s-staging-big/promoter-manifest.yaml'), 'registries:\n- name: 127.0.0.1:5000/k8s-staging-big\n  src: true\n- name: 127.0.0.1:5001/prod\n');
  const parts: string[] = [];
  const at = new Map<number, string>(); // digest index in BAD_ITEM -> digest as written
  let n = 0;
  for (let i = 0; i < ITEMS; i++) {
    const lines = [`- name: image-${i}`, '  dmap:'];
    for (let j = 0; j < 100; j++) {
      const hex = createHash('sha256').update(String(n++)).digest('hex');
      // One malformed digest (63 hex digits), as in ingress-nginx; one tag given twice.
      const digest = `sha256:${i === BAD_ITEM && j === 4 ? hex.slice(1) : hex}`;
      if (i === BAD_ITEM) at.set(j, digest);
      const tags = i === BAD_ITEM && j === 7 ? `"v1.${i}.6"` : `"v1.${i}.${j}", "v1.${i}.${j}-rc.0"`;
      lines.push(`    "${digest}": [${tags}]`);
    }
    parts.push(`${lines.join('\n')}\n`);
  }
  const text = parts.join('');
  parts.length = 0;
  t.true(text.length > 50 * 1024 * 1024, `${text.length} bytes`);
  const file = join(dir, 'images/k8s-staging-big/images.yaml');
  await writeFile(file, text);

  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // The young generation pinned at Node 20's default (16 MiB semi-spaces): Node 24's V8 grows it
    // to 64 MiB under this allocation rate, which measured 466 MiB here against 385 with the pin
    // and 370 on Node 20 (the old space was the same). The bound is for what validate keeps, not
    // for V8's young-generation policy; on Node 24 that policy alone took the test over its bound.
    const child = execFile(process.execPath, ['--max-semi-space-size=16', '--import', 'tsx', 'test/promoter/max-rss.ts', 'validate', dir], { cwd: REPO, maxBuffer: 1 << 24 }, (_error, out, err) => {
      resolve({ code: child.exitCode, stdout: out, stderr: err });
    });
  });
  const line = BAD_ITEM * 102 + 1; // each item: its name, dmap: and 100 digest lines
  t.deepEqual(
    stderr.split('\n').filter((l) => l.startsWith(file)),
    [
      `${file}:${line + 6}:5: invalid digest "${at.get(4)}": expected sha256: and 64 lowercase hex characters; this digest is left out, the rest of image-${BAD_ITEM} is promoted`,
      `${file}:${line + 9}:81: tag image-${BAD_ITEM}:v1.${BAD_ITEM}.6 is already given to ${at.get(6)}; a tag can point at one digest`,
    ],
  );
  t.is(code, 1);
  t.is(stdout, '2 problem(s); 0 project(s) valid, 1 skipped.\n');
  const kib = Number(/max-rss-kib (\d+)/.exec(stderr)?.[1]);
  t.log(`peak RSS ${Math.round(kib / 1024)} MiB`);
  // About 350 MiB on an idle machine (95 of them tsx and the loader), up to ~430 when GC threads
  // share the CPU with other tests; it was 2.4 GB.
  t.true(kib > 0 && kib < 480 * 1024, `peak RSS ${Math.round(kib / 1024)} MiB`);
});
