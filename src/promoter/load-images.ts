// Load one image project: `manifests/<p>/promoter-manifest.yaml` (registries) beside
// `images/<p>/images.yaml` (names, digests, tags), kpromo's "thin manifest" layout; or kpromo's
// single-file manifest, `registries` and `images` in one file.
import { stat } from 'node:fs/promises';
import { isValidDigest, isValidName, isValidTag } from '../oci/reference.js';
import type { ImageEntry, ImageProject } from './model.js';
import { readImageItem } from './images-fast.js';
import { bucketBase, bucketUrlProblem, looksLikeBucket } from './blob-buckets.js';
import { imagesFileSchema, promoterManifestSchema } from './schema.js';
import { stagingViolation, type StagingPolicy } from './staging.js';
import { Findings, forEachListItem, readYaml, type ManifestSource, type Parsed } from './yaml-file.js';

import type { z } from 'zod';

type ImageList = z.infer<typeof imagesFileSchema>;

/**
 * `imagesFile` is where the thin layout keeps the images; undefined for a single-file manifest.
 * A manifest that lists `images:` itself must not also have an images file (which one counts?).
 */
export async function loadImageProject(project: string, manifestFile: string, imagesFile: string | undefined, policy: StagingPolicy): Promise<{ project?: ImageProject; findings: Findings }> {
  const findings = new Findings(project);
  const manifest = await readYaml(manifestFile, promoterManifestSchema, findings);
  let merger = new ImageMerger([], findings);
  let imagesSource: ManifestSource | undefined;
  const files = [manifestFile];
  if (manifest?.value.imagesPath !== undefined) {
    findings.at(manifest.source, ['imagesPath'], 'imagesPath is deprecated and ignored (as in kpromo): images are read from images/<project>/images.yaml', 'warning', 'key');
  }
  if (manifest && manifest.value.images !== undefined) {
    if (
      imagesFile !== undefined &&
      (await stat(imagesFile).then(
        () => true,
        () => false,
      ))
    ) {
      findings.at(manifest.source, ['images'], `images are listed here and in ${imagesFile}: keep one of them`, 'error', 'key');
    }
    merger = new ImageMerger(['images'], findings);
    imagesSource = manifest.source;
    for (const [i, item] of (manifest.value.images ?? []).entries()) merger.add(item, i, manifest.source);
  } else if (imagesFile !== undefined) {
    // Item by item: a 50 MB images.yaml is merged as it is read, never held whole.
    const add = (item: unknown, i: number, source: ManifestSource) => merger.add(item as ImageItem, i, source);
    const reset = () => {
      merger = new ImageMerger([], findings);
    };
    imagesSource = await forEachListItem(imagesFile, imagesFileSchema, findings, add, reset, readImageItem);
    files.push(imagesFile);
  } else if (manifest) {
    findings.at(manifest.source, [], 'no images: a single-file manifest lists them under "images:" (or put images.yaml beside promoter-manifest.yaml)');
  }
  // Check both files even when one is broken, so a reviewer sees every problem in one run.
  const { src, destinations, blobBuckets } = manifest ? checkRegistries(project, manifest, policy, findings) : { src: undefined, destinations: [], blobBuckets: [] };
  const byName = imagesSource ? merger.finish() : new Map<string, ImageEntry>();
  // A full destination repository must be a valid name too (prefix + image name).
  for (const dest of destinations) {
    for (const name of byName.keys()) {
      if (!isValidName(`${repoPath(dest)}/${name}`)) findings.file(imagesSource?.file ?? manifestFile, `repository ${dest}/${name} is not a valid name`);
    }
  }
  if (findings.hasErrors || !src || !manifest || !imagesSource) return { findings };
  return {
    findings,
    project: { kind: 'images', id: `images/${project}`, project, files, src, destinations, images: [...byName.values()], ...(blobBuckets.length > 0 ? { blobBuckets } : {}) },
  };
}

function checkRegistries(project: string, manifest: Parsed<z.infer<typeof promoterManifestSchema>>, policy: StagingPolicy, findings: Findings) {
  // Registries: exactly one source; duplicates are harmless (kpromo tolerated them), so a warning.
  const regs = manifest.value.registries;
  const srcIdx = regs.flatMap((r, i) => (r.src ? [i] : []));
  if (srcIdx.length !== 1) {
    findings.at(manifest.source, ['registries', srcIdx[1] ?? 0], `exactly one registry must have "src: true" (found ${srcIdx.length})`);
  }
  const src = regs[srcIdx[0] ?? -1]?.name;
  const destinations: string[] = [];
  const blobBuckets: string[] = [];
  regs.forEach((r, i) => {
    if (looksLikeBucket(r.name)) {
      // A blob bucket (issue 13): receives the promoted images' blobs, never a source.
      const why = bucketUrlProblem(r.name);
      if (why) findings.at(manifest.source, ['registries', i, 'name'], `invalid blob bucket "${r.name}": ${why}`);
      else if (r.src) findings.at(manifest.source, ['registries', i, 'src'], `a blob bucket (${r.name}) cannot be the source: it holds blobs only, no manifests`);
      else if (blobBuckets.includes(bucketBase(r.name))) findings.at(manifest.source, ['registries', i, 'name'], `blob bucket ${r.name} listed twice; filling it once`, 'warning');
      else blobBuckets.push(bucketBase(r.name));
      return;
    }
    if (!registryNameOk(r.name)) findings.at(manifest.source, ['registries', i, 'name'], `invalid registry "${r.name}": expected host[:port]/repository-prefix`);
    if (r.src) return;
    if (r.name === src) findings.at(manifest.source, ['registries', i, 'name'], `destination ${r.name} is also the source`);
    else if (destinations.includes(r.name)) findings.at(manifest.source, ['registries', i, 'name'], `registry ${r.name} listed twice; promoting to it once`, 'warning');
    else destinations.push(r.name);
  });
  if (destinations.length === 0 && blobBuckets.length === 0) findings.at(manifest.source, ['registries'], 'no destination registries');
  if (src) {
    const why = stagingViolation(project, src, policy.declared);
    if (why) findings.at(manifest.source, ['registries', srcIdx[0] ?? 0, 'name'], why, policy.severity);
  }
  return { src, destinations, blobBuckets };
}

type ImageItem = NonNullable<ImageList>[number];

/**
 * Merges image entries, one at a time as they are read, into one entry per name: a name may
 * repeat across sections (one per release), but a tag may point at only one digest per name.
 */
class ImageMerger {
  readonly byName = new Map<string, ImageEntry>();
  private readonly tagAt = new Map<string, Map<string, string>>(); // name -> tag -> digest
  private readonly rollbacks: { source: ManifestSource; i: number; j: number; name: string; tag: string }[] = [];

  constructor(
    private readonly base: PropertyKey[],
    private readonly findings: Findings,
  ) {}

  add(entry: ImageItem, i: number, source: ManifestSource): void {
    const { base, findings } = this;
    if (!isValidName(entry.name)) {
      findings.at(source, [...base, i, 'name'], `invalid image name "${entry.name}"`);
      return;
    }
    let merged = this.byName.get(entry.name);
    let tagsOf = this.tagAt.get(entry.name);
    if (!merged || !tagsOf) {
      merged = { name: entry.name, dmap: new Map(), rollback: new Set() };
      this.byName.set(entry.name, merged);
      tagsOf = new Map();
      this.tagAt.set(entry.name, tagsOf);
    }
    for (const digest in entry.dmap) {
      const tagsOrNull = entry.dmap[digest];
      if (!isValidDigest(digest) || !digest.startsWith('sha256:')) {
        // Only this edge is left out; the project's other digests are still promoted (as kpromo does).
        findings.entry(source, [...base, i, 'dmap', digest], `invalid digest "${digest}": expected sha256: and 64 lowercase hex characters; this digest is left out, the rest of ${merged.name} is promoted`, 'key');
        continue;
      }
      // The manifest's own array when every tag is fine (the usual case): no copy at 500k digests.
      const given = tagsOrNull ?? [];
      const keep = given.map((tag, j) => {
        if (!isValidTag(tag)) {
          findings.at(source, [...base, i, 'dmap', digest, j], `invalid tag "${tag}"`);
          return false;
        }
        const prior = tagsOf.get(tag);
        if (prior !== undefined && prior !== digest) {
          findings.at(source, [...base, i, 'dmap', digest, j], `tag ${entry.name}:${tag} is already given to ${prior}; a tag can point at one digest`);
          return false;
        }
        if (prior === digest) {
          findings.at(source, [...base, i, 'dmap', digest, j], `tag ${entry.name}:${tag} listed twice for the same digest`, 'warning');
          return false;
        }
        tagsOf.set(tag, digest);
        return true;
      });
      const added = keep.includes(false) ? given.filter((_, j) => keep[j]) : given;
      const known = merged.dmap.get(digest);
      merged.dmap.set(digest, known ? [...known, ...added] : added);
    }
    (entry.rollback ?? []).forEach((tag, j) => {
      if (!isValidTag(tag)) findings.at(source, [...base, i, 'rollback', j], `invalid tag "${tag}"`);
      else {
        merged.rollback.add(tag);
        this.rollbacks.push({ source, i, j, name: entry.name, tag });
      }
    });
  }

  /** A rollback marker must name a tag the manifest sets: otherwise it is a typo that allows nothing. */
  finish(): Map<string, ImageEntry> {
    for (const { source, i, j, name, tag } of this.rollbacks) {
      if (!this.tagAt.get(name)?.has(tag)) this.findings.at(source, [...this.base, i, 'rollback', j], `rollback names tag "${tag}", which no digest of ${name} has`);
    }
    return this.byName;
  }
}

/** host[:port]/path: the part a distribution API call puts after /v2/. */
export function repoPath(registry: string): string {
  return registry.split('/').slice(1).join('/');
}

function registryNameOk(name: string): boolean {
  const [host, ...rest] = name.split('/');
  return !!host && /^[A-Za-z0-9.-]+(?::[0-9]+)?$/.test(host) && rest.length > 0 && isValidName(rest.join('/'));
}
