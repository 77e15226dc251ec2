// Read one YAML file and check it against a schema, turning every failure into a positioned
// finding. Shared by the manifest loaders so they all report problems the same way.
//
// Large manifests are read one list item at a time. yaml's whole-document parse keeps a CST and
// a node tree with positions for every scalar: a 50 MB images.yaml took 2.4 GB and 78 s that
// way. A manifest is one long list (images.yaml: a top-level sequence; files.yaml: `files:` and
// a sequence), so above CHUNK_ABOVE characters the list is cut at its items' `- ` lines, each
// item is parsed and checked on its own (with the list's key in front, so it has the whole
// file's shape), and only the plain values are kept; images.yaml items are even handed to the
// caller one by one (forEachListItem) and mostly read without the yaml library (images-fast.ts).
// A finding's position re-parses its one item. Anything the cut cannot handle exactly (anchors
// and aliases, several documents, another top-level key, a YAML or schema error) is read the
// whole-document way instead, so the findings are always the same as for a small file.
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { formatProblem, locate, parseYamlSource, zodProblems, type Position, type YamlSource } from '../config/yaml-source.js';
import type { Finding, Severity } from './model.js';
import { errorMessage } from '../util/error-message.js';

/** Where a YAML path is in a manifest file; for a whole document or one read in items. */
export interface ManifestSource {
  readonly file: string;
  position(path: readonly PropertyKey[], on: 'key' | 'value'): Position;
}

export interface Parsed<T> {
  source: ManifestSource;
  value: T;
}

/**
 * Above this many characters a list-shaped manifest is read item by item. Low enough that the
 * real k8s.io manifests the tests load (ingress-nginx, kops, kubernetes) take this path too.
 */
const CHUNK_ABOVE = 16 << 10;

/** Collects findings for one project; `error`/`warn` position a message at a YAML path. */
export class Findings {
  readonly list: Finding[] = [];
  constructor(readonly project: string) {}

  at(source: ManifestSource, path: readonly PropertyKey[], message: string, severity: Severity = 'error', on: 'key' | 'value' = 'value'): void {
    this.list.push({ file: source.file, ...source.position(path, on), message, severity, project: this.project });
  }

  /** An error that leaves out only this entry; the rest of the project still loads. */
  entry(source: ManifestSource, path: readonly PropertyKey[], message: string, on: 'key' | 'value' = 'value'): void {
    this.list.push({ file: source.file, ...source.position(path, on), message, severity: 'error', project: this.project, entryOnly: true });
  }

  file(file: string, message: string, severity: Severity = 'error'): void {
    this.list.push({ file, line: 1, column: 1, message, severity, project: this.project });
  }

  /** Errors that keep the whole project from loading. */
  get hasErrors(): boolean {
    return this.list.some((f) => f.severity === 'error' && !f.entryOnly);
  }

  firstError(): string | undefined {
    const f = this.list.find((x) => x.severity === 'error' && !x.entryOnly);
    return f && `${f.file}:${f.line}:${f.column}: ${f.message}`;
  }
}

/** A finding as printed: `file:line:column: message`, warnings and notes prefixed. */
export function formatFinding(f: Finding): string {
  return `${f.severity === 'error' ? '' : `${f.severity}: `}${formatProblem(f)}`;
}

/** A manifest's text, or undefined with a finding that says why it could not be read. */
async function readText(file: string, findings: Findings): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    findings.file(file, `cannot read: ${errorMessage(e)}`);
    return undefined;
  }
}

/** `fast` may read a list item's text without the yaml library, as in forEachListItem. */
export async function readYaml<S extends z.ZodType>(file: string, schema: S, findings: Findings, fast?: (itemText: string) => unknown): Promise<Parsed<z.infer<S>> | undefined> {
  const text = await readText(file, findings);
  if (text === undefined) return undefined;
  return parseYamlText(file, text, schema, findings, CHUNK_ABOVE, fast);
}

function parseYamlText<S extends z.ZodType>(file: string, text: string, schema: S, findings: Findings, chunkAbove = CHUNK_ABOVE, fast?: (itemText: string) => unknown): Parsed<z.infer<S>> | undefined {
  if (text.length > chunkAbove) {
    const list = splitList(text);
    const parsed = list && parseItems(file, text, list, schema, fast);
    if (parsed) return parsed;
  }
  const { source, problems } = parseYamlSource(file, text);
  for (const p of problems) findings.list.push({ ...p, severity: 'error', project: findings.project });
  if (!source) return undefined;
  const result = schema.safeParse(source.data);
  if (!result.success) {
    for (const p of zodProblems(source, result.error)) findings.list.push({ ...p, severity: 'error', project: findings.project });
    return undefined;
  }
  return { source: wholeSource(source), value: result.data };
}

/**
 * Read a top-level list (images.yaml) handing each checked item to `each`, so the caller can
 * merge it and nothing holds the whole list. If the item-by-item read gives up half-way, `reset`
 * is called and the whole document is read instead (findings from the abandoned pass are dropped).
 * `fast` may read an item's text without the yaml library (undefined: it cannot, yaml reads it).
 * Returns the source for positions, or undefined when the file has errors of its own.
 */
export async function forEachListItem<S extends z.ZodType>(
  file: string,
  schema: S,
  findings: Findings,
  each: (item: unknown, index: number, source: ManifestSource) => void,
  reset: () => void,
  fast?: (itemText: string) => unknown,
  chunkAbove = CHUNK_ABOVE,
): Promise<ManifestSource | undefined> {
  const text = await readText(file, findings);
  if (text === undefined) return undefined;
  const list = text.length > chunkAbove ? splitList(text) : undefined;
  if (list && list.key === undefined) {
    const source = itemsSource(file, text, list);
    const before = findings.list.length;
    const done = list.items.every((item, index) => {
      const itemText = text.slice(item.start, item.end);
      // A fast reading has the schema's shape by construction (strings, lists of strings, no other keys).
      const quick = fast?.(itemText);
      if (quick !== undefined) {
        each(quick, index, source);
        return true;
      }
      const data = parseYamlSource(file, itemText).source?.data;
      const result = data !== undefined ? schema.safeParse(data) : undefined;
      if (!result?.success || !Array.isArray(result.data) || result.data.length !== 1) return false;
      each(result.data[0], index, source);
      return true;
    });
    if (done) return source;
    findings.list.length = before;
    reset();
  }
  const parsed = parseYamlText(file, text, schema, findings, Infinity);
  if (!parsed) return undefined;
  if (Array.isArray(parsed.value)) for (const [index, item] of parsed.value.entries()) each(item, index, parsed.source);
  return parsed.source;
}

function wholeSource(source: YamlSource): ManifestSource {
  return { file: source.file, position: (path, on) => locate(source, path, on) };
}

/** A manifest cut into its list's items: `key` is the list's key (undefined for a top-level list). */
interface ListSplit {
  key?: string;
  /** Line (1-based) of the key, for positions outside the items. */
  keyLine: number;
  /** Each item's text range and the 1-based line it starts on. */
  items: { start: number; end: number; line: number }[];
}

const ITEM = /^-(?: |$)/;
const KEY = /^([A-Za-z_][A-Za-z0-9_-]*):[ ]*(?:#.*)?$/;
// An anchor or alias anywhere (even in a comment, to stay on the safe side): items cannot be read apart.
const ANCHOR_OR_ALIAS = /(?:^|[\s,[{])[&*][^\s,[\]{}]/;

/** The item ranges of a list-shaped manifest, or undefined if the text has any other shape. */
export function splitList(text: string): ListSplit | undefined {
  if (ANCHOR_OR_ALIAS.test(text)) return undefined;
  const items: ListSplit['items'] = [];
  let key: string | undefined;
  let keyLine = 1;
  let indent = -1;
  let line = 0;
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    line++;
    const raw = text.slice(start, nl < 0 ? text.length : nl).replace(/\r$/, '');
    const content = raw.replace(/^ +/, '');
    const ind = raw.length - content.length;
    if (content !== '' && !content.startsWith('#')) {
      if (content.startsWith('\t')) return undefined;
      if (indent >= 0 && ind === indent && ITEM.test(content)) {
        items.push({ start, end, line });
      } else if (indent >= 0 && ind > indent) {
        // The current item continues.
      } else if (indent < 0 && ITEM.test(content) && (ind === 0 || key !== undefined)) {
        indent = ind;
        items.push({ start, end, line });
      } else if (indent < 0 && key === undefined && ind === 0 && KEY.test(raw)) {
        key = KEY.exec(raw)?.[1];
        keyLine = line;
      } else {
        return undefined;
      }
    }
    const last = items[items.length - 1];
    if (last) last.end = end;
    start = end;
  }
  return items.length > 0 ? { ...(key !== undefined ? { key } : {}), keyLine, items } : undefined;
}

/** Parse and check each item alone; undefined if any item has a problem (then the caller reads the whole). */
function parseItems<S extends z.ZodType>(file: string, text: string, list: ListSplit, schema: S, fast?: (itemText: string) => unknown): Parsed<z.infer<S>> | undefined {
  const head = list.key === undefined ? '' : `${list.key}:\n`;
  const values: unknown[] = [];
  for (const item of list.items) {
    // A fast reading has the item schema's shape by construction.
    const quick = fast?.(text.slice(item.start, item.end));
    if (quick !== undefined) {
      values.push(quick);
      continue;
    }
    const { source } = parseYamlSource(file, head + text.slice(item.start, item.end));
    if (!source) return undefined;
    const result = schema.safeParse(source.data);
    if (!result.success) return undefined;
    const one = list.key === undefined ? result.data : (result.data as Record<string, unknown>)[list.key];
    if (!Array.isArray(one) || one.length !== 1) return undefined;
    values.push(one[0]);
  }
  const value = (list.key === undefined ? values : { [list.key]: values }) as z.infer<S>;
  return { source: itemsSource(file, text, list), value };
}

function itemsSource(file: string, text: string, list: ListSplit): ManifestSource {
  const head = list.key === undefined ? '' : `${list.key}:\n`;
  const prefix: PropertyKey[] = list.key === undefined ? [] : [list.key];
  let cached: { index: number; source: YamlSource } | undefined;
  return {
    file,
    position(path, on) {
      const index = path[prefix.length];
      const item = typeof index === 'number' ? list.items[index] : undefined;
      if (!item || prefix.some((p, i) => path[i] !== p)) return { line: list.keyLine, column: 1 };
      let source = cached !== undefined && cached.index === index ? cached.source : undefined;
      if (!source) {
        source = parseYamlSource(file, head + text.slice(item.start, item.end)).source;
        if (!source) return { line: item.line, column: 1 };
        cached = { index: index as number, source };
      }
      const pos = locate(source, [...prefix, 0, ...path.slice(prefix.length + 1)], on);
      // The item's text starts on item.line; the key line put in front of it is not in the file.
      return { line: pos.line + item.line - 1 - (head ? 1 : 0), column: pos.column };
    },
  };
}
