// Images of several MiB pushed straight into a registry with our client (skopeo would take
// longer): each a two-platform index whose platform manifests share one base layer and have one
// layer of their own, like real release images. Random (incompressible) bytes.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient, sha256Digest } from '../../src/oci/client.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface BigImage {
  name: string;
  digest: string;
}

async function blob(client: RegistryClient, repo: string, bytes: Buffer, mediaType: string) {
  const digest = sha256Digest(bytes);
  if (!(await client.hasBlob(repo, digest))) await client.uploadBlob(repo, digest, bytes, bytes.length);
  return { mediaType, digest, size: bytes.length };
}

/** Push `count` images `<prefix>/img-<i>` to `host`; returns their names and index digests. */
export async function pushBigImages(host: string, prefix: string, opts: { count: number; baseBytes: number; ownBytes: number }): Promise<BigImage[]> {
  const client = new RegistryClient(host);
  const base = randomBytes(opts.baseBytes);
  const images: BigImage[] = [];
  for (let i = 0; i < opts.count; i++) {
    const name = `img-${i}`;
    const repo = `${prefix}/${name}`;
    const children = [];
    for (const architecture of ['amd64', 'arm64']) {
      const config = await blob(client, repo, Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: `${i}` })), 'application/vnd.oci.image.config.v1+json');
      const layers = [await blob(client, repo, base, 'application/vnd.oci.image.layer.v1.tar'), await blob(client, repo, randomBytes(opts.ownBytes), 'application/vnd.oci.image.layer.v1.tar')];
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }));
      const digest = await client.putManifest(repo, sha256Digest(bytes), { bytes, mediaType: OCI_MANIFEST });
      children.push({ mediaType: OCI_MANIFEST, digest, size: bytes.length, platform: { architecture, os: 'linux' } });
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }));
    images.push({ name, digest: await client.putManifest(repo, 'v1', { bytes: index, mediaType: OCI_INDEX }) });
  }
  return images;
}

/** An images project promoting `images` (tag v1) from `src` to `destinations`; returns the manifests dir. */
export async function writeImageManifests(dir: string, project: string, src: string, destinations: string[], images: BigImage[]): Promise<string> {
  const m = join(dir, 'manifests');
  await mkdir(join(m, 'manifests', project), { recursive: true });
  await mkdir(join(m, 'images', project), { recursive: true });
  await writeFile(join(m, 'manifests', project, 'promoter-manifest.yaml'), `registries:\n- name: ${src}\n  src: true\n${destinations.map((d) => `- name: ${d}\n`).join('')}`);
  await writeFile(join(m, 'images', project, 'images.yaml'), images.map((i) => `- name: ${i.name}\n  dmap:\n    "${i.digest}": ["v1"]\n`).join(''));
  return m;
}
