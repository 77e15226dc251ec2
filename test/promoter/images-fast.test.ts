// The item-by-item reading of large manifests must read exactly what the yaml library reads.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { formatProblem } from '../../src/config/yaml-source.js';
import { readImageItem } from '../../src/promoter/images-fast.js';
import { loadManifests } from '../../src/promoter/load.js';
import type { FileProject } from '../../src/promoter/model.js';
import { splitList } from '../../src/promoter/yaml-file.js';
import { K8S_IO, tree } from './fixtures.js';

const IMAGES = join(K8S_IO, 'registry.k8s.io/images');

test('on every real images.yaml item the fast reader accepts, it reads what yaml reads', (t) => {
  let fast = 0;
  let all = 0;
  for (const project of readdirSync(IMAGES)) {
    const text = readFileSync(join(IMAGES, project, 'images.yaml'), 'utf8');
    const list = splitList(text);
    t.truthy(list, project);
    t.deepEqual(list?.items.length, (parse(text) as unknown[]).length, `${project}: one piece per item`);
    for (const item of list?.items ?? []) {
      const piece = text.slice(item.start, item.end);
      const expected = (parse(piece) as unknown[])[0];
      const got = readImageItem(piece);
      all++;
      if (got === undefined) continue;
      fast++;
      t.deepEqual(got, expected, `${project}:${item.line}`);
    }
  }
  t.true(fast / all > 0.9, `${fast} of ${all} items read fast`);
});

test('the fast reader leaves to yaml whatever it could misread', (t) => {
  const d = `"sha256:${'a'.repeat(64)}"`;
  const item = (dmapLine: string, extra = '') => `- name: app\n  dmap:\n    ${dmapLine}\n${extra}`;
  t.deepEqual(readImageItem(item(`${d}: ["v1", v2, 'v3']`, '  rollback: ["v1"]\n# trailing comment\n\n')), { name: 'app', dmap: { [d.slice(1, -1)]: ['v1', 'v2', 'v3'] }, rollback: ['v1'] });
  t.deepEqual(readImageItem(item(`${d}: []`)), { name: 'app', dmap: { [d.slice(1, -1)]: [] } });
  for (const odd of [
    item(`${d}: [1.0]`), // a number in YAML
    item(`${d}: [0x1F]`),
    item(`${d}: [true]`),
    item(`${d}: [null]`),
    item(`${d}: ["v\\u0031"]`), // an escape
    item(`${d}: ["a,b"]`),
    item(`${d}: ["v1"] # comment`),
    item(`${d}: ["v1"]\n    ${d}: ["v2"]`), // a duplicate key: yaml reports it
    item(`__proto__: ["v1"]`),
    item(`${d}:\n    - v1`), // block list
    item(`${d}: [&a v1]`),
    '- name: app\n  dmap:\n', // dmap: null
    '- dmap:\n    x: []\n  name: app\n', // another order
    `- name: app\n  dmap:\n    ${d}: ["v1"]\n  other: 1\n`, // an unknown key: the schema says so
    `- name: app\n  dmap:\n\t${d}: ["v1"]\n`,
  ]) {
    t.is(readImageItem(odd), undefined, odd);
  }
});

test('splitList cuts only list-shaped manifests it can cut exactly', (t) => {
  t.deepEqual(
    splitList('# c\n- a: 1\n  b: 2\n# c\n- a: 3\n')?.items.map((i) => i.line),
    [2, 5],
  );
  t.deepEqual(splitList('files:\n- name: a\n- name: b\n'), {
    key: 'files',
    keyLine: 1,
    items: [
      { start: 7, end: 17, line: 2 },
      { start: 17, end: 27, line: 3 },
    ],
  });
  t.deepEqual(
    splitList('files:\n  - name: a\n    sha256: x\n  - name: b\n')?.items.map((i) => i.line),
    [2, 4],
  );
  for (const text of ['- a: &x 1\n- b: *x\n', '---\n- a\n---\n- b\n', 'files:\n- a\nother:\n- b\n', 'a: 1\nb: 2\n', '- a\n\t- b\n', 'files: []\n']) {
    t.is(splitList(text), undefined, text);
  }
});

test('a large files.yaml read item by item: positions and values as for a small one', async (t) => {
  const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex');
  const entries = Array.from({ length: 400 }, (_, i) => `  - name: v1/file-${i}\n    sha256: ${sha(i)}\n`);
  entries[321] = '  - name: v1/file-321\n    sha256: not-hex\n';
  const { dir, cleanup } = await tree({
    'k8s-staging-x/filepromoter-manifest.yaml': 'filestores:\n- base: gs://k8s-staging-x/\n  src: true\n- base: file:///srv/prod/\n',
    'k8s-staging-x/files.yaml': `# release files\nfiles:\n${entries.join('')}`,
  });
  t.teardown(cleanup);
  const r = await loadManifests(join(dir, 'k8s-staging-x'));
  t.deepEqual(
    r.findings.map((f) => formatProblem(f).replace(`${dir}/`, '')),
    ['k8s-staging-x/files.yaml:646:13: invalid sha256 "not-hex": expected 64 hex characters'],
  );
  t.is(r.projects.length, 0);
  const fine = await tree({
    'k8s-staging-x/filepromoter-manifest.yaml': 'filestores:\n- base: gs://k8s-staging-x/\n  src: true\n- base: file:///srv/prod/\n',
    'k8s-staging-x/files.yaml': `files:\n${entries.filter((_, i) => i !== 321).join('')}`,
  });
  t.teardown(fine.cleanup);
  const ok = await loadManifests(join(fine.dir, 'k8s-staging-x'));
  t.deepEqual(ok.findings, []);
  t.is((ok.projects[0] as FileProject).entries.length, 399);
  t.is((ok.projects[0] as FileProject).entries[398]?.sha256, sha(399));
});
