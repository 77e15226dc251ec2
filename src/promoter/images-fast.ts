// A fast reader for one images.yaml item in the form every real manifest uses:
//
//   - name: kube-apiserver
//     dmap:
//       "sha256:1a4b…": ["v1.30.0", "v1.30"]
//       "sha256:3c6d…": []
//     rollback: ["v1.30"]
//
// The yaml library reads about 1 MB/s here and leaves a node tree per scalar behind; this reads
// the same lines with a few regular expressions. It accepts only lines it can read exactly as
// YAML 1.2 would (quoted scalars without escapes, plain scalars that can only be strings, flow
// lists on one line, comments on their own line) and returns undefined for anything else, so the
// caller reads that item with the yaml library instead. test/promoter/images-fast.test.ts checks
// it against the yaml library on the real manifests.

const NAME = /^- name: (.+)$/;
const DMAP = /^ {2}dmap:$/;
const ROLLBACK = /^ {2}rollback: (\[.*\])$/;
const EDGE = /^ {4}("[^"\\]*"|'[^']*'|[A-Za-z0-9][A-Za-z0-9._/-]*): (\[.*\])$/;

/** The value of a one-line scalar, if it can only mean that string; undefined otherwise. */
export function scalar(s: string): string | undefined {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    const inner = s.slice(1, -1);
    return /["\\]/.test(inner) ? undefined : inner;
  }
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) {
    const inner = s.slice(1, -1);
    return inner.includes("'") ? undefined : inner;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s)) return undefined;
  // Plain scalars the core schema would read as numbers, booleans or null.
  if (/^[0-9][0-9a-fA-FoxXeE._+-]*$/.test(s) || /^(?:true|false|null)$/i.test(s)) return undefined;
  return s;
}

/** `["a", b]` or `[]` on one line. */
function flowList(s: string): string[] | undefined {
  const inner = s.slice(1, -1).trim();
  if (inner === '') return [];
  // map, not push: an exactly sized array (a pushed one reserves 17 slots, which adds up).
  const out = inner.split(',').map((part) => scalar(part.trim()));
  return out.includes(undefined) ? undefined : (out as string[]);
}

export interface FastImageItem {
  name: string;
  dmap: Record<string, string[]>;
  rollback?: string[];
}

/** One item (the text from its `- name:` line to the next item), or undefined to let yaml read it. */
export function readImageItem(text: string): FastImageItem | undefined {
  const lines = text.split('\n');
  let i = 0;
  const next = () => {
    while (i < lines.length) {
      const line = (lines[i] as string).replace(/\r$/, '');
      if (line.trim() !== '' && !/^\s*#/.test(line)) return line;
      i++;
    }
    return undefined;
  };
  const first = next();
  const name = first === undefined ? undefined : NAME.exec(first);
  const nameValue = name ? scalar(name[1] as string) : undefined;
  if (nameValue === undefined) return undefined;
  i++;
  if (!DMAP.test(next() ?? '')) return undefined;
  i++;
  const dmap: Record<string, string[]> = {};
  let edges = 0;
  let rollback: string[] | undefined;
  for (let line = next(); line !== undefined; i++, line = next()) {
    const edge = EDGE.exec(line);
    if (edge && rollback === undefined) {
      const key = scalar(edge[1] as string);
      const tags = flowList(edge[2] as string);
      // A repeated key is an error yaml reports; `__proto__` and friends are left to yaml too.
      if (key === undefined || tags === undefined || Object.hasOwn(dmap, key) || key in Object.prototype) return undefined;
      dmap[key] = tags;
      edges++;
      continue;
    }
    const rb = ROLLBACK.exec(line);
    if (rb && rollback === undefined) {
      rollback = flowList(rb[1] as string);
      if (rollback === undefined) return undefined;
      continue;
    }
    return undefined;
  }
  if (edges === 0) return undefined; // `dmap:` with nothing is null in YAML: yaml's reading says so
  return rollback ? { name: nameValue, dmap, rollback } : { name: nameValue, dmap };
}
