// Load one file project: a filestore list (one `src: true`, the rest destinations) and one or
// more `files:` lists. Every kpromo form ends here: `filestores/<p>/filepromoter-manifest.yaml`
// with `manifests/<p>/*.yaml`; a project folder with `filepromoter-manifest.yaml` beside
// `files.yaml` or a `files/` folder; and the older single file holding both lists.
import type { Filestore } from './schema.js';
import type { FileEntry, FileProject } from './model.js';
import { filesFileSchema, filestoresFileSchema, legacyFilesSchema } from './schema.js';
import { stagingViolation, type StagingPolicy } from './staging.js';
import { baseProblem } from './stores/confine.js';
import { readFileItem } from './files-fast.js';
import { Findings, readYaml, type ManifestSource, type Parsed } from './yaml-file.js';

// kpromo decodes the hex, so upper case is accepted; it is compared in lower case.
const SHA256_RE = /^[a-fA-F0-9]{64}$/;
const BASE_RE = /^(?:s3|gs):\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](?:\/.*)?$|^file:\/\/\/.*$/;

interface FilesList {
  source: ManifestSource;
  files: { name: string; sha256: string; rollback?: boolean | undefined }[] | null;
}

export async function loadFileProject(project: string, filestoresFile: string, manifestFiles: string[], policy: StagingPolicy): Promise<{ project?: FileProject; findings: Findings }> {
  const findings = new Findings(project);
  const stores = await readYaml(filestoresFile, filestoresFileSchema, findings);
  const lists: FilesList[] = [];
  for (const file of manifestFiles) {
    const parsed = await readYaml(file, filesFileSchema, findings, readFileItem);
    if (parsed) lists.push({ source: parsed.source, files: parsed.value.files });
  }
  if (!stores) return { findings };
  return build(`files/${project}`, project, stores, lists, [filestoresFile, ...manifestFiles], policy, findings);
}

export async function loadLegacyFileProject(project: string, file: string, policy: StagingPolicy): Promise<{ project?: FileProject; findings: Findings }> {
  const findings = new Findings(project);
  const parsed = await readYaml(file, legacyFilesSchema, findings);
  if (!parsed) return { findings };
  const stores = { source: parsed.source, value: { filestores: parsed.value.filestores } };
  return build(`files-legacy/${project}`, project, stores, [{ source: parsed.source, files: parsed.value.files }], [file], policy, findings);
}

function build(id: string, project: string, stores: Parsed<{ filestores: Filestore[] }>, lists: FilesList[], files: string[], policy: StagingPolicy, findings: Findings): { project?: FileProject; findings: Findings } {
  const fs = stores.value.filestores;
  const srcIdx = fs.flatMap((s, i) => (s.src ? [i] : []));
  if (srcIdx.length !== 1) findings.at(stores.source, ['filestores', srcIdx[1] ?? 0], `exactly one filestore must have "src: true" (found ${srcIdx.length})`);
  const src = fs[srcIdx[0] ?? -1]?.base;
  const destinations: string[] = [];
  fs.forEach((s, i) => {
    if (!BASE_RE.test(s.base)) {
      findings.at(stores.source, ['filestores', i, 'base'], `invalid base "${s.base}": expected s3://bucket/prefix, gs://bucket/prefix or file:///absolute/path`);
      return;
    }
    // The stores refuse such a base at run time; validate says so first, at its place.
    const climbs = baseProblem(s.base);
    if (climbs) {
      findings.at(stores.source, ['filestores', i, 'base'], `base "${s.base}" has ${climbs}: a base must name its folder or prefix directly`);
      return;
    }
    if (s.src) return;
    const norm = withSlash(s.base);
    if (src && norm === withSlash(src)) findings.at(stores.source, ['filestores', i, 'base'], `destination ${s.base} is also the source`);
    else if (destinations.includes(norm)) findings.at(stores.source, ['filestores', i, 'base'], `filestore ${s.base} listed twice; promoting to it once`, 'warning');
    else destinations.push(norm);
  });
  if (destinations.length === 0) findings.at(stores.source, ['filestores'], 'no destination filestores');
  if (src) {
    const why = stagingViolation(project, src, policy.declared);
    if (why) findings.at(stores.source, ['filestores', srcIdx[0] ?? 0, 'base'], why, policy.severity);
  }

  const entries = new Map<string, FileEntry>();
  for (const list of lists) {
    // In the legacy form the list sits under `files`; in the split form too: same path either way.
    (list.files ?? []).forEach((f, i) => {
      const why = badName(f.name);
      if (why) {
        findings.at(list.source, ['files', i, 'name'], `invalid file name "${f.name}": ${why}`);
        return;
      }
      if (!SHA256_RE.test(f.sha256)) {
        findings.at(list.source, ['files', i, 'sha256'], `invalid sha256 "${f.sha256}": expected 64 hex characters`);
        return;
      }
      const sha256 = f.sha256.toLowerCase();
      const prior = entries.get(f.name);
      if (prior && prior.sha256 !== sha256) {
        findings.at(list.source, ['files', i, 'sha256'], `${f.name} is already listed with sha256 ${prior.sha256}`);
        return;
      }
      if (prior) {
        findings.at(list.source, ['files', i, 'name'], `${f.name} listed twice`, 'warning');
        prior.rollback ||= f.rollback === true;
        return;
      }
      entries.set(f.name, { name: f.name, sha256, rollback: f.rollback === true });
    });
  }
  if (findings.hasErrors || !src) return { findings };
  return { findings, project: { kind: 'files', id, project, files, src: withSlash(src), destinations, entries: [...entries.values()] } };
}

/** Names are object keys below a base: relative, no `.`/`..` segments, no empty segments. */
function badName(name: string): string | undefined {
  if (name.startsWith('/')) return 'must be relative';
  if (name.includes('\\')) return 'must not contain a backslash';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  if (/[\u0000-\u001f]/.test(name)) return 'must not contain control characters';
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'must not have empty, "." or ".." segments';
  if (segments.some((s) => s.startsWith('.artifact-serving'))) return 'names starting with .artifact-serving are reserved';
  return undefined;
}

function withSlash(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}
