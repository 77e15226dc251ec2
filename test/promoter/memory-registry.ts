// An OCI registry in memory, implementing the promoter's Registry interface with no process and
// no socket: manifests by digest and tag, blobs per repository (uploads verified against their
// digest, manifests refused while a blob or child they name is missing, as distribution does),
// mounts, tag lists, and a referrers API (from manifests' `subject`) that can be switched off.
// Faults are injected per operation with `fail`; `calls` records what was asked, in order.
import { Readable } from 'node:stream';
import { RegistryError, sha256Digest, type Descriptor, type Manifest } from '../../src/oci/client.js';
import type { Registry, TagsList } from '../../src/oci/registry.js';

interface Repo {
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  tags: Map<string, string>;
  blobs: Map<string, Buffer>;
}

type Operation = 'headManifest' | 'getManifest' | 'putManifest' | 'deleteManifest' | 'hasBlob' | 'getBlob' | 'mountBlob' | 'uploadBlob' | 'listTags' | 'tagsList' | 'referrers';

export interface MemoryRegistryOptions {
  /** Answer GET /v2/<repo>/referrers/<digest> (default true); false: the registry has no referrers API. */
  referrersApi?: boolean;
  /** Add Google's `manifest` map (digest -> tags, untagged digests too) to tags lists, as GCR and Artifact Registry do. */
  tagDigests?: boolean;
  /** Called before each operation; an error it returns is thrown instead of doing it. */
  fail?: (op: Operation, repo: string, ref: string) => Error | undefined;
}

export class MemoryRegistry implements Registry {
  readonly repos = new Map<string, Repo>();
  readonly calls: string[] = [];

  constructor(
    readonly host: string,
    private readonly opts: MemoryRegistryOptions = {},
  ) {}

  // ---- seeding and inspection

  /** Store a blob and return its descriptor. */
  addBlob(repo: string, bytes: Buffer, mediaType = 'application/octet-stream'): Descriptor {
    const digest = sha256Digest(bytes);
    this.repo(repo).blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Store a manifest (JSON of `body`) under its digest and the given tags; returns its descriptor. */
  addManifest(repo: string, body: { mediaType: string } & Record<string, unknown>, tags: string[] = []): Descriptor {
    const bytes = Buffer.from(JSON.stringify(body));
    const digest = sha256Digest(bytes);
    const r = this.repo(repo);
    r.manifests.set(digest, { bytes, mediaType: body.mediaType });
    for (const tag of tags) r.tags.set(tag, digest);
    return { mediaType: body.mediaType, digest, size: bytes.length };
  }

  tagsOf(repo: string): Record<string, string> {
    return Object.fromEntries([...(this.repos.get(repo)?.tags ?? [])].sort(([a], [b]) => a.localeCompare(b)));
  }

  hasManifest(repo: string, digest: string): boolean {
    return this.repos.get(repo)?.manifests.has(digest) ?? false;
  }

  // ---- Registry

  async headManifest(repo: string, ref: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    this.enter('headManifest', repo, ref);
    const m = this.lookup(repo, ref);
    return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  async getManifest(repo: string, ref: string): Promise<Manifest | undefined> {
    this.enter('getManifest', repo, ref);
    const m = this.lookup(repo, ref);
    return m && { bytes: Buffer.from(m.bytes), mediaType: m.mediaType, digest: m.digest };
  }

  async putManifest(repo: string, ref: string, m: { bytes: Buffer; mediaType: string }): Promise<string> {
    this.enter('putManifest', repo, ref);
    const digest = sha256Digest(m.bytes);
    if (ref.startsWith('sha256:') && ref !== digest) throw new RegistryError(`${this.host}/${repo}@${ref}: manifest hashes to ${digest}`, 400, 'DIGEST_INVALID');
    const r = this.repo(repo);
    const json = JSON.parse(m.bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    for (const child of json.manifests ?? []) {
      if (!r.manifests.has(child.digest)) throw new RegistryError(`${this.host}/${repo}: manifest ${child.digest} unknown`, 400, 'MANIFEST_UNKNOWN');
    }
    for (const blob of [...(json.config ? [json.config] : []), ...(json.layers ?? [])]) {
      if (!r.blobs.has(blob.digest)) throw new RegistryError(`${this.host}/${repo}: blob ${blob.digest} unknown`, 400, 'MANIFEST_BLOB_UNKNOWN');
    }
    r.manifests.set(digest, { bytes: Buffer.from(m.bytes), mediaType: m.mediaType });
    if (!ref.startsWith('sha256:')) r.tags.set(ref, digest);
    return digest;
  }

  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    this.enter('deleteManifest', repo, ref);
    const r = this.repos.get(repo);
    if (!r) return false;
    if (!ref.startsWith('sha256:')) return r.tags.delete(ref);
    for (const [tag, digest] of r.tags) if (digest === ref) r.tags.delete(tag);
    return r.manifests.delete(ref);
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    this.enter('hasBlob', repo, digest);
    return this.repos.get(repo)?.blobs.has(digest) ?? false;
  }

  async getBlob(repo: string, digest: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
    this.enter('getBlob', repo, digest);
    const bytes = this.repos.get(repo)?.blobs.get(digest);
    if (!bytes) throw new RegistryError(`${this.host}/${repo}@${digest}: blob unknown`, 404, 'BLOB_UNKNOWN');
    return { body: Readable.toWeb(Readable.from([bytes])) as ReadableStream<Uint8Array>, size: bytes.length };
  }

  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    this.enter('mountBlob', repo, digest);
    const bytes = this.repos.get(from)?.blobs.get(digest);
    if (!bytes) return false;
    this.repo(repo).blobs.set(digest, bytes);
    return true;
  }

  async uploadBlob(repo: string, digest: string, body: ReadableStream<Uint8Array> | Readable | Buffer, size: number): Promise<void> {
    this.enter('uploadBlob', repo, digest);
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(await new Response(body instanceof Readable ? (Readable.toWeb(body) as ReadableStream<Uint8Array>) : body).arrayBuffer());
    if (bytes.length !== size) throw new RegistryError(`${this.host}/${repo}: upload of ${digest} has ${bytes.length} bytes, declared ${size}`, 400, 'SIZE_INVALID');
    if (sha256Digest(bytes) !== digest) throw new RegistryError(`${this.host}/${repo}: upload hashes to ${sha256Digest(bytes)}, not ${digest}`, 400, 'DIGEST_INVALID');
    this.repo(repo).blobs.set(digest, bytes);
  }

  async listTags(repo: string): Promise<string[]> {
    this.enter('listTags', repo, '');
    return [...(this.repos.get(repo)?.tags.keys() ?? [])].sort();
  }

  async tagsList(repo: string): Promise<TagsList> {
    this.enter('tagsList', repo, '');
    const r = this.repos.get(repo);
    const tags = [...(r?.tags.keys() ?? [])].sort();
    if (!this.opts.tagDigests) return { tags };
    const digests = new Map<string, string[]>([...(r?.manifests.keys() ?? [])].map((d) => [d, []]));
    for (const [tag, d] of r?.tags ?? []) digests.get(d)?.push(tag);
    return { tags, digests };
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    this.enter('referrers', repo, digest);
    if (this.opts.referrersApi === false) return undefined;
    const found: Descriptor[] = [];
    for (const [d, m] of this.repos.get(repo)?.manifests ?? []) {
      const json = JSON.parse(m.bytes.toString('utf8')) as { subject?: Descriptor; artifactType?: string };
      if (json.subject?.digest === digest) found.push({ mediaType: m.mediaType, digest: d, size: m.bytes.length, ...(json.artifactType !== undefined && { artifactType: json.artifactType }) });
    }
    return found;
  }

  // ---- internals

  private enter(op: Operation, repo: string, ref: string): void {
    this.calls.push(`${op} ${repo}${ref ? ` ${ref}` : ''}`);
    const error = this.opts.fail?.(op, repo, ref);
    if (error) throw error;
  }

  private repo(name: string): Repo {
    let r = this.repos.get(name);
    if (!r) {
      r = { manifests: new Map(), tags: new Map(), blobs: new Map() };
      this.repos.set(name, r);
    }
    return r;
  }

  private lookup(repo: string, ref: string): { bytes: Buffer; mediaType: string; digest: string } | undefined {
    const r = this.repos.get(repo);
    const digest = ref.startsWith('sha256:') ? ref : r?.tags.get(ref);
    const m = digest === undefined ? undefined : r?.manifests.get(digest);
    return m && digest !== undefined ? { ...m, digest } : undefined;
  }
}
