// Strict schemas for kpromo's manifest formats, accepted unchanged so existing projects can
// switch. Strict objects: an unknown key is usually a typo that would otherwise silently do
// nothing (the "promoted nothing without an error" complaint). Two optional fields are ours:
// `rollback` on an image entry (tags allowed to move) and on a file entry (content may change).
import { z } from 'zod';

/** `service-account` is kpromo's GCP identity hint; accepted so manifests load, but unused here. */
const serviceAccount = z.string().min(1).optional();

const registryEntrySchema = z.strictObject({
  name: z.string().min(1),
  src: z.boolean().optional(),
  'service-account': serviceAccount,
});

const tagList = z.array(z.string({ error: 'a tag must be a string (quote it)' }));

const imageEntrySchema = z.strictObject({
  name: z.string().min(1),
  dmap: z.record(z.string(), tagList.nullable()),
  rollback: z.array(z.string()).optional(),
});

/** `registry.k8s.io/images/<project>/images.yaml`; an empty file (all comments) is null. */
export const imagesFileSchema = z.array(imageEntrySchema).nullable();

/**
 * `registry.k8s.io/manifests/<project>/promoter-manifest.yaml`, or kpromo's single-file manifest
 * (`--manifest`) when it also holds `images:`. `imagesPath` is kpromo's deprecated no-op: accepted
 * with a warning, never read (images always come from `images/<project>/images.yaml`).
 */
export const promoterManifestSchema = z.strictObject({
  registries: z.array(registryEntrySchema).min(1),
  imagesPath: z.string().optional(),
  images: imagesFileSchema.optional(),
});

export const filestoreSchema = z.strictObject({
  base: z.string().min(1),
  src: z.boolean().optional(),
  'service-account': serviceAccount,
});

const fileEntrySchema = z.strictObject({
  name: z.string().min(1),
  sha256: z.string(),
  rollback: z.boolean().optional(),
});

/** `artifacts/filestores/<project>/filepromoter-manifest.yaml` */
export const filestoresFileSchema = z.strictObject({
  filestores: z.array(filestoreSchema).min(1),
});

/** `artifacts/manifests/<project>/*.yaml` */
export const filesFileSchema = z.strictObject({
  files: z.array(fileEntrySchema).nullable(),
});

/** The older single-file form, `artifacts/files/<project>/manifest.yaml`: both lists in one. */
export const legacyFilesSchema = z.strictObject({
  filestores: z.array(filestoreSchema).min(1),
  files: z.array(fileEntrySchema).nullable(),
});

export type RegistryEntry = z.infer<typeof registryEntrySchema>;
export type Filestore = z.infer<typeof filestoreSchema>;
