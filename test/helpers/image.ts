/**
 * Test images without Docker: an OCI image layout written by hand (a real multi-arch image index,
 * real configs and real gzipped tar layers), pushed with skopeo; and deterministic random files.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';

import { RegistryClient, sha256Digest } from '../../src/oci/client.js';
import { skopeo } from './peers.js';
import { tempDir } from './temp-dir.js';

export interface BuiltImage {
  layoutDir: string;
  /** "sha256:<hex>" of the image index bytes. */
  indexDigest: string;
  platforms: { os: string; architecture: string; digest: string; layerDigests: string[]; configDigest: string }[];
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

const FIXED_MTIME = 1_700_000_000; // seconds; fixed so builds are reproducible
const FIXED_DATE = new Date(FIXED_MTIME * 1000).toISOString();

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A ustar numeric field: zero-padded octal, NUL-terminated, `width` bytes in all. */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A minimal ustar archive holding regular files (names < 100 bytes). */
function makeTar(files: { name: string; content: Buffer; mode?: number }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    if (Buffer.byteLength(file.name) >= 100) throw new Error(`tar: name too long: ${file.name}`);
    const header = Buffer.alloc(512, 0);
    header.write(file.name, 0, 100, 'utf8');
    header.write(octal(file.mode ?? 0o644, 8), 100, 8, 'ascii');
    header.write(octal(0, 8), 108, 8, 'ascii'); // uid
    header.write(octal(0, 8), 116, 8, 'ascii'); // gid
    header.write(octal(file.content.length, 12), 124, 12, 'ascii');
    header.write(octal(FIXED_MTIME, 12), 136, 12, 'ascii');
    header.write('        ', 148, 8, 'ascii'); // checksum placeholder: 8 spaces
    header.write('0', 156, 1, 'ascii'); // typeflag: regular file
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    header.write('root', 265, 32, 'ascii');
    header.write('root', 297, 32, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    blocks.push(header, file.content);
    const pad = (512 - (file.content.length % 512)) % 512;
    if (pad > 0) blocks.push(Buffer.alloc(pad, 0));
  }
  blocks.push(Buffer.alloc(1024, 0)); // two zero blocks end the archive
  return Buffer.concat(blocks);
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

async function writeBlob(layoutDir: string, data: Buffer, mediaType: string): Promise<Descriptor> {
  const hex = sha256Hex(data);
  await writeFile(join(layoutDir, 'blobs', 'sha256', hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

/**
 * Writes an OCI image layout into `dir` holding one image index with linux/amd64 and linux/arm64
 * manifests, each with a real config and `opts.layers` (default 1) gzipped tar layers whose file
 * content includes `seed`, plus `opts.randomBytes` incompressible bytes per layer (default none).
 * The layout's index.json names the index `tag` (org.opencontainers.image.ref.name).
 */
export async function buildMultiArchImage(dir: string, opts: { seed?: string; tag?: string; layers?: number; randomBytes?: number } = {}): Promise<BuiltImage> {
  const seed = opts.seed ?? 'default-seed';
  const tag = opts.tag ?? 'latest';
  const layerCount = opts.layers ?? 1;
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });

  const platforms: BuiltImage['platforms'] = [];
  const manifestDescriptors: (Descriptor & { platform: { architecture: string; os: string } })[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    const os = 'linux';
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i < layerCount; i++) {
      const text = `artifact-serving test image\nseed=${seed}\nplatform=${os}/${architecture}\n${i === 0 ? '' : `layer=${i}\n`}`;
      const files: { name: string; content: Buffer }[] = [{ name: i === 0 ? 'artifact-serving-test.txt' : `artifact-serving-layer-${i}.txt`, content: Buffer.from(text, 'utf8') }];
      if (opts.randomBytes) files.push({ name: `random-${i}.bin`, content: randomBuffer(opts.randomBytes, `${seed}/${architecture}/${i}`) });
      const tar = makeTar(files);
      diffIds.push(`sha256:${sha256Hex(tar)}`);
      layers.push(await writeBlob(dir, gzipSync(tar, { level: 9 }), OCI_LAYER_GZIP));
    }
    const config = {
      created: FIXED_DATE,
      architecture,
      os,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/bin/true'],
        Labels: { 'org.opencontainers.image.description': `artifact-serving test image (${seed})` },
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [{ created: FIXED_DATE, created_by: 'test/helpers/image.ts buildMultiArchImage' }],
    };
    const configDesc = await writeBlob(dir, Buffer.from(JSON.stringify(config), 'utf8'), OCI_CONFIG);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDesc,
      layers,
    };
    const manifestDesc = await writeBlob(dir, Buffer.from(JSON.stringify(manifest), 'utf8'), OCI_MANIFEST);
    manifestDescriptors.push({ ...manifestDesc, platform: { architecture, os } });
    platforms.push({
      os,
      architecture,
      digest: manifestDesc.digest,
      layerDigests: layers.map((l) => l.digest),
      configDigest: configDesc.digest,
    });
  }

  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: manifestDescriptors };
  const indexDesc = await writeBlob(dir, Buffer.from(JSON.stringify(index), 'utf8'), OCI_INDEX);

  const layoutIndex = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ ...indexDesc, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify(layoutIndex));

  return { layoutDir: dir, indexDigest: indexDesc.digest, platforms };
}

/**
 * `skopeo copy --all oci:<layoutDir>:<tag> docker://<registryHost>/<repo>:<tag>` over plain HTTP.
 * The tag must be the one the image was built with. Returns the index digest as stored.
 */
export async function pushImage(image: BuiltImage, registryHost: string, repo: string, tag: string): Promise<string> {
  const tmp = tempDir('artifact-serving-push-');
  try {
    const digestFile = join(tmp, 'digest');
    await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${image.layoutDir}:${tag}`, `docker://${registryHost}/${repo}:${tag}`]);
    return (await readFile(digestFile, 'utf8')).trim();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `size` pseudo-random bytes, deterministic by `seed` (the keystream writeRandomFile uses). */
function randomBuffer(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(`artifact-serving:${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0)).update(Buffer.alloc(size, 0));
}

/**
 * Writes `size` pseudo-random bytes (deterministic by `seed`: AES-256-CTR keystream keyed by
 * sha256(seed)) to `path`, creating parent dirs; returns the sha256 hex of the content.
 */
export async function writeRandomFile(path: string, size: number, seed = 'default-seed'): Promise<string> {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`writeRandomFile: bad size ${size}`);
  await mkdir(dirname(path), { recursive: true });
  const key = createHash('sha256').update(`artifact-serving:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const closed = once(out, 'close');
  closed.catch(() => undefined); // observed below; avoid an unhandled rejection if we throw first
  const chunkSize = 1 << 20;
  const zeros = Buffer.alloc(chunkSize, 0);
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(chunkSize, size - written);
      const chunk = cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n));
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      written += n;
    }
    out.end();
    await closed;
  } catch (err) {
    out.destroy();
    throw err;
  }
  return hash.digest('hex');
}

/**
 * Push a cosign-style artifact for `digest`: a manifest under tag sha256-<hex><suffix> (`.sig` by
 * default; `.sbom`, `.att`), whose payload names the image. `extra` goes into the payload, so two
 * pushes for one image differ (a re-signed image); `annotated` adds cosign's signature annotation.
 */
export async function pushSignature(registryHost: string, repo: string, digest: string, opts: { suffix?: string; extra?: Record<string, string>; annotated?: boolean } = {}): Promise<string> {
  const client = new RegistryClient(registryHost);
  const payload = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': digest } }, ...opts.extra }));
  const config = Buffer.from('{}');
  for (const b of [payload, config]) await client.uploadBlob(repo, sha256Digest(b), b, b.length);
  const layer = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256Digest(payload), size: payload.length };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
      layers: [opts.annotated === false ? layer : { ...layer, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ-test' } }],
    }),
  );
  return client.putManifest(repo, `sha256-${digest.slice(7)}${opts.suffix ?? '.sig'}`, { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
}
