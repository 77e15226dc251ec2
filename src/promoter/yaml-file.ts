// Read one YAML file and check it against a schema, turning every failure into a positioned
// finding. Shared by the manifest loaders so they all report problems the same way.
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { formatProblem, parseYamlSource, problemAt, zodProblems, type YamlSource } from '../config/yaml-source.js';
import type { Finding, Severity } from './model.js';

export interface Parsed<T> {
  source: YamlSource;
  value: T;
}

/** Collects findings for one project; `error`/`warn` position a message at a YAML path. */
export class Findings {
  readonly list: Finding[] = [];
  constructor(readonly project: string) {}

  at(source: YamlSource, path: readonly PropertyKey[], message: string, severity: Severity = 'error', on: 'key' | 'value' = 'value'): void {
    this.list.push({ ...problemAt(source, path, message, on), severity, project: this.project });
  }

  /** An error that leaves out only this entry; the rest of the project still loads. */
  entry(source: YamlSource, path: readonly PropertyKey[], message: string, on: 'key' | 'value' = 'value'): void {
    this.list.push({ ...problemAt(source, path, message, on), severity: 'error', project: this.project, entryOnly: true });
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

export async function readYaml<S extends z.ZodType>(file: string, schema: S, findings: Findings): Promise<Parsed<z.infer<S>> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    findings.file(file, `cannot read: ${(e as Error).message}`);
    return undefined;
  }
  return parseYamlText(file, text, schema, findings);
}

export function parseYamlText<S extends z.ZodType>(file: string, text: string, schema: S, findings: Findings): Parsed<z.infer<S>> | undefined {
  const { source, problems } = parseYamlSource(file, text);
  for (const p of problems) findings.list.push({ ...p, severity: 'error', project: findings.project });
  if (!source) return undefined;
  const result = schema.safeParse(source.data);
  if (!result.success) {
    for (const p of zodProblems(source, result.error)) findings.list.push({ ...p, severity: 'error', project: findings.project });
    return undefined;
  }
  return { source, value: result.data };
}
