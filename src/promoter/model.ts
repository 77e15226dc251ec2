// The promoter's vocabulary, as plain data. Manifests are loaded into these shapes; the planner
// reads them together with an observed snapshot of staging and production and returns a plan.
// Nothing here talks to a network or a disk, so the planner stays a pure function.
import type { SourceProblem } from '../config/yaml-source.js';

/** One image name in a project: which digests to promote and under which tags. */
export interface ImageEntry {
  name: string;
  /** digest -> tags (a digest may have no tags: it is promoted by digest only). */
  dmap: Map<string, string[]>;
  /** Tags the manifest explicitly allows to move to another digest (a reviewed rollback). */
  rollback: Set<string>;
}

export interface FileEntry {
  name: string;
  sha256: string;
  /** The manifest explicitly allows replacing a different production object of that name. */
  rollback: boolean;
}

interface ProjectBase {
  /** Unique among loaded projects: `images/<p>`, `files/<p>` or `files-legacy/<p>`; names the ledger. */
  id: string;
  /** The project's directory name, which is also the name of its staging area. */
  project: string;
  /** Where the project's source of truth lives (manifest files), for messages. */
  files: string[];
  /** The staging location (registry prefix or filestore base). */
  src: string;
  /** Production locations, deduplicated, in manifest order. */
  destinations: string[];
}

export interface ImageProject extends ProjectBase {
  kind: 'images';
  images: ImageEntry[];
  /**
   * Blob buckets (issue 13): `registries:` entries named `file:///…`, `s3://…` or `gs://…`, as
   * store bases with a trailing slash. Each receives every blob of every promoted digest at
   * `<base>containers/images/sha256:<hex>` (blob-buckets.ts). Absent when there are none.
   */
  blobBuckets?: string[];
}

export interface FileProject extends ProjectBase {
  kind: 'files';
  entries: FileEntry[];
}

export type Project = ImageProject | FileProject;

/** A note only informs (e.g. a folder deliberately not read); it never changes the outcome. */
export type Severity = 'error' | 'warning' | 'note';

export interface Finding extends SourceProblem {
  severity: Severity;
  /** The project the finding belongs to (an error there skips that project only). */
  project: string;
  /**
   * An error that leaves out only the manifest entry it is about (one malformed digest): the rest
   * of the project still loads and is planned, as kpromo does. The run still exits 1.
   */
  entryOnly?: boolean;
}

/** What loading a manifests directory produced: good projects, and what was wrong with the rest. */
export interface LoadResult {
  projects: Project[];
  /** Every problem found, errors and warnings, sorted by file and position. */
  findings: Finding[];
  /** Projects left out because of an error, with the first reason. */
  skipped: Map<string, string>;
}
