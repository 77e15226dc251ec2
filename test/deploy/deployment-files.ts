// Reading the deployment files for the tests in this folder: YAML (every document, with parse
// errors reported, never swallowed), the Dockerfile as instructions per stage, .dockerignore.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Loose } from '../helpers/loose.js';
import { REPO_ROOT } from '../helpers/redirector.js';

export { REPO_ROOT };

export const repoPath = (...parts: string[]): string => join(REPO_ROOT, ...parts);

/** Every .yaml/.yml file under `dir` (relative to the repo root), sorted. */
export function yamlFilesUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (abs: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name)) found.push(relative(REPO_ROOT, path));
    }
  };
  walk(repoPath(dir));
  return found.sort();
}

/** All documents of a YAML file as plain values; throws with file:line on any parse error or warning. */
export function readYamlDocuments(file: string): unknown[] {
  return parseYamlDocuments(file, readFileSync(repoPath(file), 'utf8'));
}

export function parseYamlDocuments(file: string, text: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  const problems = docs.flatMap((doc) => [...doc.errors, ...doc.warnings]).map((e) => `${file}: ${e.message}`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return docs.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown).filter((value) => value !== null);
}

/** The one document of a YAML file that must hold exactly one. */
export function readYaml<T = Record<string, Loose>>(file: string): T {
  const docs = readYamlDocuments(file);
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`);
  return docs[0] as T;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes objects and kustomizations (by hand: no kubectl needed)

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Loose;
  data?: Record<string, string>;
  [key: string]: Loose;
}

export function isK8sObject(value: unknown): value is K8sObject {
  const v = value as K8sObject;
  return typeof v === 'object' && v !== null && typeof v.apiVersion === 'string' && typeof v.kind === 'string' && typeof v.metadata?.name === 'string';
}

/** The objects a kustomization directory lists under `resources:` that are files (not other kustomizations). */
export function kustomizationResources(dir: string): { file: string; objects: K8sObject[] }[] {
  const kustomization = readYaml(join(dir, 'kustomization.yaml'));
  const out: { file: string; objects: K8sObject[] }[] = [];
  for (const resource of (kustomization['resources'] ?? []) as string[]) {
    const path = join(dir, resource);
    if (existsSync(repoPath(path)) && statSync(repoPath(path)).isFile()) {
      out.push({ file: path, objects: readYamlDocuments(path).filter(isK8sObject) });
    }
  }
  return out;
}

export function findObject(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** Every key/value of `selector` is among `labels`. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** The value after `flag` in an argument list (`--port 8080`), or after `flag=`. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  rest: string;
  line: number;
}

export interface Stage {
  /** The FROM image with global ARG defaults substituted. */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions, continuation lines joined and comment lines dropped (as Docker's parser does). */
export function dockerfileInstructions(text: string): Instruction[] {
  const lines = text.split('\n');
  const out: Instruction[] = [];
  let current: { text: string; line: number } | undefined;
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (current === undefined && line.trim() === '')) return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    if (current) current.text += ` ${body.trim()}`;
    else current = { text: body.trim(), line: index + 1 };
    if (!continued) {
      const match = /^(\S+)\s*(.*)$/s.exec(current.text)!;
      out.push({ keyword: match[1]!.toUpperCase(), rest: match[2]!.trim(), line: current.line });
      current = undefined;
    }
  });
  return out;
}

export function dockerfileStages(text: string): Stage[] {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of dockerfileInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.rest);
      if (!match) throw new Error(`Dockerfile:${instruction.line}: cannot read FROM ${instruction.rest}`);
      const image = match[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => globalArgs.get((a ?? b)!) ?? '');
      stages.push({ image, name: match[2], instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`Dockerfile:${instruction.line}: ${instruction.keyword} before FROM`);
      const [name, value] = instruction.rest.split('=', 2) as [string, string | undefined];
      globalArgs.set(name.trim(), (value ?? '').trim().replace(/^"(.*)"$/, '$1'));
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** A JSON-form (exec form) argument list, or a failure: shell form is not accepted where exec form is required. */
export function execForm(rest: string): string[] {
  const parsed: unknown = JSON.parse(rest);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`not an exec-form list: ${rest}`);
  return parsed;
}

/** `COPY [--from=x] [--chown=..] src... dest` */
export function copyParts(rest: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = rest.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const option = words.shift()!;
    if (option.startsWith('--from=')) from = option.slice('--from='.length);
  }
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

/** Whether a .dockerignore pattern list excludes `path` (relative, forward slashes). Handles `*`, `**`, `!`, and directory prefixes. */
export function dockerignored(patterns: readonly string[], path: string): boolean {
  let excluded = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const source = pattern
      .split('/')
      .map((part) =>
        part === '**'
          ? '.*'
          : part
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
      )
      .join('/');
    // A pattern matching a directory excludes everything under it.
    if (new RegExp(`^${source}(/.*)?$`).test(path)) excluded = !negate;
  }
  return excluded;
}

export function dockerignorePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
