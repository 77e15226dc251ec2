// Find and load every project under a manifests directory. Recognised layouts (kpromo's, at DIR
// itself or one level below it, so both `k8s.io/registry.k8s.io` and `k8s.io` work):
//   images:  manifests/<p>/promoter-manifest.yaml + images/<p>/images.yaml
//   files:   filestores/<p>/filepromoter-manifest.yaml + manifests/<p>/*.yaml
//   legacy:  files/<p>/manifest.yaml (filestores and files in one file)
// Each project is loaded on its own: an error skips that project, never the others.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYamlSource, sortProblems, zodProblems } from '../config/yaml-source.js';
import type { Finding, LoadResult, Project } from './model.js';
import { loadFileProject, loadLegacyFileProject } from './load-files.js';
import { loadImageProject } from './load-images.js';
import { STAGING_FILE, stagingDeclarationSchema, type StagingDeclaration } from './staging.js';
import type { Findings } from './yaml-file.js';

export async function loadManifests(dir: string, only?: string): Promise<LoadResult> {
  const findings: Finding[] = [];
  const { declared, findings: declFindings } = await loadStagingDeclaration(dir);
  findings.push(...declFindings);
  const loads: Promise<{ project?: Project; findings: Findings }>[] = [];
  const roots = [dir, ...(await subdirs(dir)).map((d) => join(dir, d))];
  let layouts = 0;
  for (const root of roots) {
    const has = new Set(await subdirs(root));
    if (has.has('manifests') && has.has('images')) {
      layouts++;
      loads.push(...(await imageProjects(root, declared, only)));
    } else if (has.has('filestores')) {
      layouts++;
      loads.push(...(await fileProjects(root, declared, only)));
    }
    if (has.has('files')) {
      for (const p of await subdirs(join(root, 'files'))) {
        if (only && p !== only) continue;
        const file = join(root, 'files', p, 'manifest.yaml');
        if (await exists(file)) {
          layouts++;
          loads.push(loadLegacyFileProject(p, file, declared));
        }
      }
    }
  }
  if (layouts === 0) {
    findings.push({ file: dir, line: 1, column: 1, severity: 'error', project: '', message: 'no promoter manifests found: expected manifests/+images/, filestores/+manifests/ or files/ here or one level below' });
  }
  const projects: Project[] = [];
  const skipped = new Map<string, string>();
  for (const { project, findings: f } of await Promise.all(loads)) {
    findings.push(...f.list);
    if (project) projects.push(project);
    else skipped.set(f.project, f.firstError() ?? 'could not be loaded');
  }
  sortProblems(findings);
  return { projects, findings, skipped };
}

async function imageProjects(root: string, declared: StagingDeclaration, only?: string) {
  const names = new Set([...(await subdirs(join(root, 'manifests'))), ...(await subdirs(join(root, 'images')))]);
  return [...names]
    .filter((p) => !only || p === only)
    .sort()
    .map((p) => loadImageProject(p, join(root, 'manifests', p, 'promoter-manifest.yaml'), join(root, 'images', p, 'images.yaml'), declared));
}

async function fileProjects(root: string, declared: StagingDeclaration, only?: string) {
  const names = new Set([...(await subdirs(join(root, 'filestores'))), ...(await subdirs(join(root, 'manifests')))]);
  const out = [];
  for (const p of [...names].sort()) {
    if (only && p !== only) continue;
    const listDir = join(root, 'manifests', p);
    const lists = (await yamlFiles(listDir)).map((f) => join(listDir, f));
    out.push(loadFileProject(p, join(root, 'filestores', p, 'filepromoter-manifest.yaml'), lists, declared));
  }
  return out;
}

async function loadStagingDeclaration(dir: string): Promise<{ declared: StagingDeclaration; findings: Finding[] }> {
  const file = join(dir, STAGING_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { declared: new Map(), findings: [] };
  }
  const { source, problems } = parseYamlSource(file, text);
  const asFindings = (ps: typeof problems): Finding[] => ps.map((p) => ({ ...p, severity: 'error', project: '' }));
  if (!source) return { declared: new Map(), findings: asFindings(problems) };
  const parsed = stagingDeclarationSchema.safeParse(source.data);
  if (!parsed.success) return { declared: new Map(), findings: asFindings(zodProblems(source, parsed.error)) };
  return { declared: new Map(Object.entries(parsed.data.staging)), findings: [] };
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function yamlFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}
