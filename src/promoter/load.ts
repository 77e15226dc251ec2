// Find and load every project under a manifests path. Recognised (kpromo's forms):
//   images:  manifests/<p>/promoter-manifest.yaml + images/<p>/images.yaml   (at DIR or one level below,
//   files:   filestores/<p>/filepromoter-manifest.yaml + manifests/<p>/*.yaml  so both k8s.io and
//                                                                             k8s.io/registry.k8s.io work)
//   one image project folder:  DIR/promoter-manifest.yaml (with `images:`, or images.yaml beside it)
//   one file project folder:   DIR/filepromoter-manifest.yaml + DIR/files.yaml and/or DIR/files/*.yaml
//   one file:                  a single-file manifest, `registries`+`images` or `filestores`+`files`
// The legacy `files/<p>/manifest.yaml` folder is not walked (kpromo's manifest walk ignores it, and
// it overlaps the live filestores projects); it is noted, and one of its files can be given directly.
// Each project is loaded on its own: an error skips that project, never the others.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseYamlSource, sortProblems, zodProblems } from '../config/yaml-source.js';
import type { Finding, LoadResult, Project } from './model.js';
import { loadFileProject, loadLegacyFileProject } from './load-files.js';
import { loadImageProject } from './load-images.js';
import { DEFAULT_STAGING_POLICY, STAGING_FILE, stagingDeclarationSchema, type StagingPolicy } from './staging.js';
import { Findings } from './yaml-file.js';
import { errorMessage } from '../util/error-message.js';

type Load = Promise<{ project?: Project; findings: Findings }>;

export async function loadManifests(path: string, only?: string): Promise<LoadResult> {
  const findings: Finding[] = [];
  const isFile = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  const dir = isFile ? dirname(path) : path;
  const { policy, findings: declFindings } = await loadStagingPolicy(dir);
  findings.push(...declFindings);
  const loads: Load[] = [];
  // A single project (a file, or a project folder) is named after its folder: the staging area's name.
  const single = (name: string) => !only || only === name;
  if (isFile) {
    if (single(basename(dir))) loads.push(loadSingleFile(basename(dir), path, policy));
  } else if (await exists(join(dir, 'filepromoter-manifest.yaml'))) {
    const listed = await yamlFiles(join(dir, 'files'));
    const lists = [...((await exists(join(dir, 'files.yaml'))) ? [join(dir, 'files.yaml')] : []), ...listed.files];
    if (listed.error !== undefined) {
      if (single(basename(dir))) loads.push(unreadable(basename(dir), join(dir, 'files'), listed.error));
    } else if (lists.length > 0 && single(basename(dir))) loads.push(loadFileProject(basename(dir), join(dir, 'filepromoter-manifest.yaml'), lists, policy));
    else if (lists.length === 0)
      findings.push({ file: join(dir, 'filepromoter-manifest.yaml'), line: 1, column: 1, severity: 'error', project: basename(dir), message: 'no files lists: expected files.yaml or a files/ folder beside this file' });
  } else if (await exists(join(dir, 'promoter-manifest.yaml'))) {
    const images = join(dir, 'images.yaml');
    if (single(basename(dir))) loads.push(loadImageProject(basename(dir), join(dir, 'promoter-manifest.yaml'), (await exists(images)) ? images : undefined, policy));
  } else {
    await walkLayouts(dir, policy, only, loads, findings);
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

/** kpromo's multi-project layouts at `dir` itself or one level below it. */
async function walkLayouts(dir: string, policy: StagingPolicy, only: string | undefined, loads: Load[], findings: Finding[]): Promise<void> {
  const roots = [dir, ...(await subdirs(dir, findings)).map((d) => join(dir, d))];
  let layouts = 0;
  for (const root of roots) {
    const has = new Set(root === dir ? await subdirs(root) : await subdirs(root, findings));
    if (has.has('manifests') && has.has('images')) {
      layouts++;
      loads.push(...(await imageProjects(root, policy, findings, only)));
    } else if (has.has('filestores')) {
      layouts++;
      loads.push(...(await fileProjects(root, policy, findings, only)));
    }
    if (has.has('files')) {
      const legacy = [];
      for (const p of await subdirs(join(root, 'files'), findings)) {
        if ((!only || p === only) && (await exists(join(root, 'files', p, 'manifest.yaml')))) legacy.push(p);
      }
      if (legacy.length > 0) {
        findings.push({
          file: join(root, 'files'),
          line: 1,
          column: 1,
          severity: 'note',
          project: '',
          message: `not read: the legacy single-file form (files/<project>/manifest.yaml, ${legacy.length} project(s)), which kpromo's manifest walk ignores too; to promote one, give its file: promote ${join(root, 'files', legacy[0] as string, 'manifest.yaml')}`,
        });
      }
    }
  }
  if (layouts === 0) {
    findings.push({
      file: dir,
      line: 1,
      column: 1,
      severity: 'error',
      project: '',
      message: 'no promoter manifests found: expected manifests/+images/ or filestores/+manifests/ here or one level below, or a project folder with promoter-manifest.yaml or filepromoter-manifest.yaml',
    });
  }
}

/** One file given directly: a full image manifest (`registries`, `images`) or a file manifest with both lists. */
async function loadSingleFile(project: string, file: string, policy: StagingPolicy): Load {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    // loadImageProject reports the unreadable file.
  }
  // Which kind: the first top-level key decides (the loaders then check the whole file strictly).
  const key = /^(registries|filestores|files|images)\s*:/m.exec(text)?.[1];
  if (key === 'filestores' || key === 'files') return loadLegacyFileProject(project, file, policy);
  return loadImageProject(project, file, undefined, policy);
}

async function imageProjects(root: string, policy: StagingPolicy, findings: Finding[], only?: string) {
  const names = new Set([...(await subdirs(join(root, 'manifests'), findings)), ...(await subdirs(join(root, 'images'), findings))]);
  return [...names]
    .filter((p) => !only || p === only)
    .sort()
    .map((p) => loadImageProject(p, join(root, 'manifests', p, 'promoter-manifest.yaml'), join(root, 'images', p, 'images.yaml'), policy));
}

async function fileProjects(root: string, policy: StagingPolicy, findings: Finding[], only?: string) {
  const names = new Set([...(await subdirs(join(root, 'filestores'), findings)), ...(await subdirs(join(root, 'manifests'), findings))]);
  const out = [];
  for (const p of [...names].sort()) {
    if (only && p !== only) continue;
    const lists = await yamlFiles(join(root, 'manifests', p));
    // A files folder that cannot be read skips the project: promoting (or pruning) with some of its lists missing would be wrong.
    if (lists.error !== undefined) out.push(unreadable(p, join(root, 'manifests', p), lists.error));
    else out.push(loadFileProject(p, join(root, 'filestores', p, 'filepromoter-manifest.yaml'), lists.files, policy));
  }
  return out;
}

/** A project whose manifest folder could not be read: skipped, with the folder and the reason. */
function unreadable(project: string, dir: string, why: string): Load {
  const findings = new Findings(project);
  findings.file(dir, `cannot read this folder: ${why}`);
  return Promise.resolve({ findings });
}

async function loadStagingPolicy(dir: string): Promise<{ policy: StagingPolicy; findings: Finding[] }> {
  const file = join(dir, STAGING_FILE);
  // A broken policy fails closed: the staging rule is then an error for every project.
  const broken: StagingPolicy = { declared: new Map(), severity: 'error' };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    // Only a missing file means "no policy": one that exists but cannot be read (permissions, a
    // folder) must not quietly relax an admin's rule to the lenient default.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { policy: DEFAULT_STAGING_POLICY, findings: [] };
    return { policy: broken, findings: [{ file, line: 1, column: 1, severity: 'error', project: '', message: `cannot read the staging policy: ${errorMessage(e)}` }] };
  }
  const { source, problems } = parseYamlSource(file, text);
  const asFindings = (ps: typeof problems): Finding[] => ps.map((p) => ({ ...p, severity: 'error', project: '' }));
  if (!source) return { policy: broken, findings: asFindings(problems) };
  const parsed = stagingDeclarationSchema.safeParse(source.data ?? {});
  if (!parsed.success) return { policy: broken, findings: asFindings(zodProblems(source, parsed.error)) };
  return { policy: { declared: new Map(Object.entries(parsed.data.staging ?? {})), severity: parsed.data.outsideStaging ?? 'warning' }, findings: [] };
}

/**
 * The folders in `dir` (none if it does not exist). Any other failure (a symlink loop, a file
 * where a folder is expected, an I/O error) is an error finding naming the folder, with `findings`.
 */
async function subdirs(dir: string, findings?: Finding[]): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') findings?.push({ file: dir, line: 1, column: 1, severity: 'error', project: '', message: `cannot read this folder: ${errorMessage(e)}` });
    return [];
  }
}

/**
 * The YAML files under `dir`, in its subfolders too (kpromo walks them), sorted by path; none if
 * it does not exist, and any other failure as `error`.
 */
async function yamlFiles(dir: string): Promise<{ files: string[]; error?: string }> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return {
      files: entries
        .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
        .map((e) => join(e.parentPath, e.name))
        .sort(),
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { files: [] };
    return { files: [], error: errorMessage(e) };
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
