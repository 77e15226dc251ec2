// YAML with its positions kept, so every problem in a config or a promoter manifest can be
// reported as `file:line:column: message` — the place a reviewer has to look, not just a path.
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node } from 'yaml';
import type { ZodError } from 'zod';
import { errorMessage } from '../util/error-message.js';

export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface YamlSource {
  file: string;
  text: string;
  /** The document as plain JS values (what schemas validate). */
  data: unknown;
  doc: Document.Parsed;
  lines: LineCounter;
}

export interface Position {
  line: number;
  column: number;
}

export function formatProblem(p: SourceProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

export function parseYamlSource(file: string, text: string): { source?: YamlSource; problems: SourceProblem[] } {
  const lines = new LineCounter();
  // uniqueKeys: a repeated key is a mistake in a reviewed file, never an intended override.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: SourceProblem[] = doc.errors.map((error) => {
    const pos = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
    return { file, line: pos.line, column: pos.col, message: firstLine(error.message) };
  });
  if (problems.length > 0) return { problems };
  problems.push(...aliasProblems(file, doc, lines));
  if (problems.length > 0) return { problems };
  let data: unknown;
  try {
    // Aliases are bounded by aliasProblems (by what they expand to), not by yaml's use count:
    // one probe block shared by 101 mirrors is ordinary YAML.
    data = doc.toJS({ maxAliasCount: -1 });
  } catch (error) {
    // Nothing known throws here any more; a reload must still never die on a file.
    return { problems: [{ file, line: 1, column: 1, message: `cannot read YAML: ${firstLine(errorMessage(error))}` }] };
  }
  return { source: { file, text, data, doc, lines }, problems };
}

/**
 * The most nodes aliases may add to a document when expanded. Aliases are shared references in
 * the parsed value, but every later walk (schema checks, compilation) expands them: ten levels
 * of ten aliases ("billion laughs") is 10^10 nodes from a few hundred bytes. A million is far
 * beyond any real config or manifest (a probe block shared by 1,000 mirrors adds ~10,000).
 */
const MAX_ALIAS_EXPANSION = 1_000_000;

/** Unresolved aliases (`*typo`), aliases inside their own anchor, and expansion beyond MAX_ALIAS_EXPANSION, each at its place. */
function aliasProblems(file: string, doc: Document.Parsed, lines: LineCounter): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const at = (node: Alias, message: string): SourceProblem => {
    const pos = lines.linePos(node.range?.[0] ?? 0);
    return { file, line: pos.line, column: pos.col, message };
  };
  // Anchors as met in document order (an alias means the nearest anchor before it), in one pass:
  // yaml's Alias.resolve walks the whole document for each alias.
  const anchors = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const sizes = new Map<unknown, number>();
  const inProgress = new Set<unknown>();
  let cyclic = false;
  // Nodes the subtree stands for once every alias in it is expanded (memoised: linear time).
  const size = (node: unknown): number => {
    if (node === null || typeof node !== 'object') return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    if (inProgress.has(node)) {
      cyclic = true;
      return 1;
    }
    inProgress.add(node);
    let n = 1;
    if (isAlias(node)) n = size(targets.get(node) ?? null);
    else if (isPair(node)) n = size(node.key) + size(node.value);
    else if (isCollection(node)) for (const item of node.items) n += size(item);
    inProgress.delete(node);
    sizes.set(node, n);
    return n;
  };
  let added = 0;
  let reported = false;
  visit(doc, (_key, node) => {
    if (!isAlias(node)) {
      if ((isScalar(node) || isCollection(node)) && node.anchor) anchors.set(node.anchor, node);
      return;
    }
    const target = anchors.get(node.source);
    if (!target) {
      problems.push(at(node, `unknown alias *${node.source}: no anchor &${node.source} before it`));
      return;
    }
    targets.set(node, target);
    cyclic = false;
    const expanded = size(target);
    if (cyclic) {
      problems.push(at(node, `alias *${node.source} is inside the node it refers to`));
      return;
    }
    added += expanded - 1;
    if (added > MAX_ALIAS_EXPANSION && !reported) {
      reported = true;
      problems.push(at(node, `aliases expand to more than ${MAX_ALIAS_EXPANSION} nodes here: refusing a file that grows exponentially`));
    }
  });
  return problems;
}

/** The position of the deepest node that exists along `path` (the whole document if none does). */
export function locate(source: YamlSource, path: readonly PropertyKey[], at: 'key' | 'value' = 'value'): Position {
  let node: unknown = source.doc.contents;
  let found: { range?: [number, number, number] | null } | null = node as Node;
  for (const [i, segment] of path.entries()) {
    const isLast = i === path.length - 1;
    const pair = childPair(node, segment);
    if (pair === undefined) break;
    if (isLast && at === 'key' && pair.key) {
      found = pair.key;
      break;
    }
    node = pair.value;
    if (node && typeof node === 'object' && 'range' in node) found = node as Node;
  }
  const offset = found?.range?.[0] ?? 0;
  const pos = source.lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

export function problemAt(source: YamlSource, path: readonly PropertyKey[], message: string, at: 'key' | 'value' = 'value'): SourceProblem {
  return { file: source.file, ...locate(source, path, at), message };
}

/**
 * Each zod issue at the node it is about; an unknown key points at the key itself.
 * `basePath` is where the validated value sits in the document, when it is not the whole of it.
 */
export function zodProblems(source: YamlSource, error: ZodError, basePath: readonly PropertyKey[] = []): SourceProblem[] {
  const problems: SourceProblem[] = [];
  for (const issue of error.issues) {
    const path = [...basePath, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push(problemAt(source, [...path, key], `unknown key "${key}"${describePath(path)}`, 'key'));
      }
      continue;
    }
    const last = path[path.length - 1];
    if (path.length > 0 && typeof last === 'string' && !source.doc.hasIn(path)) {
      // Zod's words for an absent value ("expected string, received undefined") hide the point.
      problems.push(problemAt(source, path.slice(0, -1), `missing required key "${last}"${describePath(path.slice(0, -1))}`));
      continue;
    }
    problems.push(problemAt(source, path, `${issue.message}${describePath(path)}`));
  }
  return sortProblems(problems);
}

export function sortProblems(problems: SourceProblem[]): SourceProblem[] {
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}

function describePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '';
  return ` (at ${path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[')})`;
}

function childPair(node: unknown, segment: PropertyKey): { key?: { range?: [number, number, number] | null } | null; value: unknown } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((item) => isPair(item) && keyOf(item.key) === String(segment));
    return pair ? { key: pair.key as Node | null, value: pair.value } : undefined;
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item = node.items[segment];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function keyOf(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
