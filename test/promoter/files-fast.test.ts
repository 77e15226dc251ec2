// The fast reading of `files:` items must read exactly what the yaml library reads.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readFileItem } from '../../src/promoter/files-fast.js';
import { splitList } from '../../src/promoter/yaml-file.js';
import { K8S_IO } from './fixtures.js';

const MANIFESTS = join(K8S_IO, 'artifacts/manifests');

test('on every real files manifest item the fast reader accepts, it reads what yaml reads', (t) => {
  let fast = 0;
  let all = 0;
  for (const project of readdirSync(MANIFESTS)) {
    for (const file of readdirSync(join(MANIFESTS, project)).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(MANIFESTS, project, file), 'utf8');
      const list = splitList(text);
      if (list?.key !== 'files') continue;
      for (const item of list.items) {
        const piece = text.slice(item.start, item.end);
        const expected = (parse(`files:\n${piece}`) as { files: unknown[] }).files[0];
        const got = readFileItem(piece);
        all++;
        if (got === undefined) continue;
        fast++;
        t.deepEqual(got, expected, `${project}/${file}:${item.line}`);
      }
    }
  }
  t.true(all > 100 && fast / all > 0.99, `${fast} of ${all} items read fast`);
});

test('the fast reader leaves to yaml whatever it could misread', (t) => {
  const hex = 'ba6d43a2e6858f0c53ed23b5ca241a9937628575bd0f1f768e57118d30abb40b';
  t.deepEqual(readFileItem(`- name: v1/a.tar.gz\n  sha256: ${hex}\n# c\n\n`), { name: 'v1/a.tar.gz', sha256: hex });
  t.deepEqual(readFileItem(`- name: "v1/a b"\n  sha256: '${hex}'\n  rollback: true\n`), { name: 'v1/a b', sha256: hex, rollback: true });
  for (const odd of [
    `- name: v1/a\n  sha256: ${'1'.repeat(64)}\n`, // digits only: a number in YAML
    `- name: v1/a\n  sha256: 12e45\n`, // a float
    `- name: v1/a\n  sha256: ${hex} # comment\n`,
    `- name: 1.0\n  sha256: ${hex}\n`,
    `- name: "v\\u0031"\n  sha256: ${hex}\n`, // an escape
    `- sha256: ${hex}\n  name: v1/a\n`, // another order
    `- name: v1/a\n  sha256: ${hex}\n  rollback: yes\n`,
    `- name: v1/a\n  sha256: ${hex}\n  other: 1\n`, // an unknown key: the schema says so
    `- name: v1/a\n  sha256: ${hex}\n  sha256: ${hex}\n`, // a duplicate key: yaml reports it
    `- name: v1/a\n  sha256: &x ${hex}\n`,
    `- name: v1/a\n  sha256:\n    ${hex}\n`,
    `- name: v1/a\n`,
  ]) {
    t.is(readFileItem(odd), undefined, odd);
  }
});
