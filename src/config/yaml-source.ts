// YAML with its positions kept, so every problem in a config or a promoter manifest can be
// reported as `file:line:column: message` — the place a reviewer has to look, not just a path.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { ZodError } from 'zod';

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
  let data: unknown;
  try {
    // The alias guard bounds expansion (uses x nested aliases of an anchor) by the text's size: an
    // ordinary anchor used a few hundred times loads, a "billion laughs" document does not.
    data = doc.toJS({ maxAliasCount: Math.max(100, text.length) });
  } catch (error) {
    return { problems: [aliasProblem(file, doc, lines, error as Error)] };
  }
  return { source: { file, text, data, doc, lines }, problems };
}

/** toJS throws only for aliases: point at the alias that names no earlier anchor, or the first alias. */
function aliasProblem(file: string, doc: Document.Parsed, lines: LineCounter, error: Error): SourceProblem {
  const anchors = new Set<string>();
  let unresolved: Node | undefined;
  let first: Node | undefined;
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        first ??= node;
        if (!anchors.has(node.source)) {
          unresolved = node;
          return visit.BREAK;
        }
      } else if (node.anchor) anchors.add(node.anchor);
      return undefined;
    },
  });
  const at = unresolved ?? first;
  const pos = lines.linePos(at?.range?.[0] ?? 0);
  const message = unresolved && isAlias(unresolved)
    ? `unknown alias "*${unresolved.source}": no anchor "&${unresolved.source}" is set before it`
    : `YAML aliases expand too much (${firstLine(error.message)})`;
  return { file, line: pos.line, column: pos.col, message };
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
  return ` (at ${path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')})`;
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
