// Blobs from buckets, manifests from the registry (issue 13), with real clients and real stores.
//
// Small two-layer, two-platform images in a staging docker-registry are promoted (`promote
// --confirm`, as the post-submit job runs it) to a production docker-registry and to two blob
// buckets in registry.k8s.io's layout (`containers/images/sha256:<hex>`): a folder served by nginx
// (with an access log) and an s3rver bucket (its requests recorded). The redirector sends client
// 10.1.0.5 to the nginx bucket and 10.2.0.5 to s3rver (each client behind a forwarding proxy
// that sets X-Forwarded-For, as a load balancer would). skopeo, podman, containerd's ctr and
// docker pull through it: manifests come from the registry, every layer from the client's bucket
// (counted in the bucket's own log), digests match. A blob missing from a bucket comes from the
// registry with no failed pull; a Range request survives the redirect; an interrupted containerd
// download resumes with a Range request to the bucket.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createBackends } from '../../src/promoter/backends.js';
import { promote } from '../../src/promoter/promote.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { startDocker, type DockerEngine } from '../helpers/docker.js';
import type { ForwardingProxy } from '../helpers/forwarding-proxy.js';
import { buildMultiArchImage, pushImage, type BuiltImage } from '../helpers/image.js';
import { requireTool, skopeo, startNginx, startRegistry, type Peer } from '../helpers/peers.js';
import { podman } from '../helpers/podman.js';
import { accessLogLines, type AccessLogLine, type RedirectorProcess } from '../helpers/redirector.js';
import { BUCKETS, CLIENT_IP, MIRROR, startBlobRedirector, type BlobRedirector, type Bucket } from '../helpers/blob-redirector.js';
import { captureIo } from '../helpers/io.js';
import { runCli } from '../helpers/run-cli.js';
import type { Report } from '../../src/report/build.js';
import { startS3, type S3Peer, type S3Request } from '../promoter/s3.js';
import { tempDir } from '../helpers/temp-dir.js';

const S3_BUCKET = 'k8s-blobs';
/** The promoter project whose staging repositories hold the images (`<staging>/k8s-staging-blobs/<name>`). */
const PROJECT = 'k8s-staging-blobs';
const TOOLS = ['skopeo', 'podman', 'ctr', 'docker'] as const;
type ImageName = `${(typeof TOOLS)[number]}-${Bucket}` | 'missing' | 'resume';

let staging: Peer;
let registry: Peer;
let nginx: Peer;
let s3: S3Peer;
let served: BlobRedirector | undefined;
let redirector: RedirectorProcess;
let containerd: Containerd | undefined;
let docker: DockerEngine | undefined;
let proxies: Record<Bucket, ForwardingProxy>;
const images = {} as Record<ImageName, BuiltImage>;
const s3Requests: S3Request[] = [];
/** The ranged GETs sent through the redirector: the access log counts only the bytes they asked for. */
const rangedGets: { mirror: string; digest: string; bytes: number }[] = [];
let work: string;
let nginxLog: string;
let accessLog: string;

test.before(async () => {
  requireTool('docker-registry', 'docker-registry');
  requireTool('skopeo', 'skopeo');
  requireTool('nginx', 'nginx');
  requireTool('curl', 'curl');
  work = tempDir('blob-buckets-');
  nginxLog = join(work, 'nginx-access.log');
  accessLog = join(work, 'redirector-access.jsonl');
  [staging, registry] = await Promise.all([startRegistry(), startRegistry()]);
  const names: ImageName[] = [...TOOLS.flatMap((tool) => BUCKETS.map((bucket) => `${tool}-${bucket}` as const)), 'missing'];
  for (const name of names) {
    images[name] = await buildMultiArchImage(join(work, `image-${name}`), { seed: `blob-buckets-${name}`, tag: 'v1', layers: 2 });
  }
  // Big enough to interrupt mid-download (nginx sends it slowly, below), small enough to be quick.
  images.resume = await buildMultiArchImage(join(work, 'image-resume'), { seed: 'blob-buckets-resume', tag: 'v1', randomBytes: 3 << 20 });
  await Promise.all(Object.entries(images).map(([name, image]) => pushImage(image, staging.host, `${PROJECT}/${name}`, 'v1')));

  const slowLayer = images.resume.platforms[0]!.layerDigests[0]!;
  nginx = await startNginx({
    root: join(work, 'nginx-bucket'),
    extraServerConfig: `    access_log ${nginxLog};\n    location = /containers/images/${slowLayer} { limit_rate 384k; }\n`,
  });
  s3 = await startS3([S3_BUCKET], { onRequest: (r) => s3Requests.push(r) });
  await promoteEverything();
  // What the pulls do, below, is counted from here: not the promoter's writes.
  s3Requests.length = 0;

  served = await startBlobRedirector({ nginx: nginx.url, s3: `${s3.endpoint}/${S3_BUCKET}` }, registry.url, accessLog);
  ({ redirector, clients: proxies } = served);
});

test.after.always(async () => {
  await docker?.stop();
  await containerd?.stop();
  await served?.stop();
  await Promise.all([staging?.stop(), registry?.stop(), nginx?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Promotes every image from staging to the production registry (as `k8s/<name>`) and to both blob
 * buckets, which get every blob (configs and layers of every platform) at
 * `containers/images/sha256:<hex>`, verified: the promoter's blob-bucket destinations.
 */
async function promoteEverything(): Promise<void> {
  const manifests = join(work, 'manifests');
  await mkdir(join(manifests, 'manifests', PROJECT), { recursive: true });
  await mkdir(join(manifests, 'images', PROJECT), { recursive: true });
  const destinations = [`${staging.host}/${PROJECT}`, `${registry.host}/k8s`, pathToFileURL(nginx.dir).href, `s3://${S3_BUCKET}`];
  await writeFile(join(manifests, 'manifests', PROJECT, 'promoter-manifest.yaml'), `registries:\n${destinations.map((name, i) => `- name: ${name}\n${i === 0 ? '  src: true\n' : ''}`).join('')}`);
  await writeFile(
    join(manifests, 'images', PROJECT, 'images.yaml'),
    Object.entries(images)
      .map(([name, image]) => `- name: ${name}\n  dmap:\n    "${image.indexDigest}": ["v1"]\n`)
      .join(''),
  );
  const backends = createBackends({ s3: s3.client });
  try {
    const { out, io } = captureIo();
    const result = await promote({ dir: manifests, confirm: true, prune: false, parallel: 4, retry: { attempts: 3, baseMs: 10, maxMs: 100 } }, backends, io);
    if (result.exitCode !== 0) throw new Error(`promote failed:\n${out.stdout}${out.stderr}`);
  } finally {
    backends.close();
  }
}

async function removeFromBuckets(digest: string): Promise<void> {
  await unlink(join(nginx.dir, 'containers/images', digest));
  await s3.client.send(new DeleteObjectCommand({ Bucket: S3_BUCKET, Key: `containers/images/${digest}` }));
}

interface LoggedRequest {
  method: string;
  status: number;
  digest: string;
  range?: string;
}

/** The bucket's own log: every request for a blob key, with its status. */
async function bucketLog(bucket: Bucket): Promise<LoggedRequest[]> {
  if (bucket === 's3') {
    const prefix = `/${S3_BUCKET}/containers/images/`;
    return s3Requests.filter((r) => r.path.startsWith(prefix)).map((r) => ({ method: r.method, status: r.status, digest: decodeURIComponent(r.path.slice(prefix.length)), range: r.range }));
  }
  const text = await readFile(nginxLog, 'utf8').catch(() => '');
  const out: LoggedRequest[] = [];
  for (const match of text.matchAll(/"(GET|HEAD) \/containers\/images\/(sha256:[0-9a-f]{64}) HTTP\/[\d.]+" (\d{3})/g)) out.push({ method: match[1]!, digest: match[2]!, status: Number(match[3]) });
  return out;
}

/** The redirector's access-log lines for one repository, once `done` says they are all written. */
function redirectorLog(repo: string, done: (lines: AccessLogLine[]) => boolean): Promise<AccessLogLine[]> {
  return accessLogLines(accessLog, `/v2/k8s/${repo}/`, done);
}

/** The layers a pull of these platforms needs. */
function layersOf(image: BuiltImage, platforms: 'all' | 'amd64'): string[] {
  return image.platforms.filter((p) => platforms === 'all' || p.architecture === 'amd64').flatMap((p) => p.layerDigests);
}

/**
 * What every pull must show: manifests only from the registry, blobs only from the bucket (the
 * redirector's log), and each layer fetched from the bucket itself with a 200 or 206 (its log).
 */
async function assertFromBucket(t: ExecutionContext, name: ImageName, bucket: Bucket, layers: string[], fromRegistry: string[] = []): Promise<void> {
  const lines = await redirectorLog(name, (ls) => layers.every((d) => ls.some((l) => l.path.endsWith(`/blobs/${d}`) && l.method === 'GET')));
  const manifests = lines.filter((l) => l.path.includes('/manifests/'));
  t.true(manifests.length > 0, 'manifests were asked for');
  for (const l of manifests) t.is(l.mirror, 'registry', `${l.method} ${l.path} from the registry`);
  const blobs = lines.filter((l) => l.path.includes('/blobs/'));
  for (const l of blobs) {
    const digest = l.path.slice(l.path.lastIndexOf('/') + 1);
    t.is(l.status, 307, l.path);
    t.is(l.mirror, fromRegistry.includes(digest) ? 'registry' : MIRROR[bucket], `${l.method} ${l.path}`);
  }
  const served = await bucketLog(bucket);
  t.log(`${name}: ${manifests.length} manifest and ${blobs.length} blob requests at the redirector; ${served.length} requests in the ${bucket} bucket's log so far`);
  for (const digest of layers) {
    const gets = served.filter((r) => r.digest === digest && r.method === 'GET' && (r.status === 200 || r.status === 206));
    if (fromRegistry.includes(digest)) t.is(gets.length, 0, `${digest} is not in the ${bucket} bucket`);
    else t.true(gets.length >= 1, `${digest} GET from the ${bucket} bucket`);
  }
}

/** One containerd for the file, started by the first test that needs it. */
function ctr(): Promise<Containerd> {
  return containerd ? Promise.resolve(containerd) : startContainerd().then((c) => (containerd = c));
}

for (const bucket of BUCKETS) {
  test.serial(`skopeo copies every platform with layers from the ${bucket} bucket`, async (t) => {
    const name: ImageName = `skopeo-${bucket}`;
    const out = join(work, `skopeo-out-${bucket}`);
    const digestFile = join(work, `skopeo-digest-${bucket}`);
    await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${proxies[bucket].host}/k8s/${name}:v1`, `oci:${out}:v1`], { timeoutMs: 120_000 });
    t.is((await readFile(digestFile, 'utf8')).trim(), images[name].indexDigest);
    await assertFromBucket(t, name, bucket, layersOf(images[name], 'all'));
  });

  test.serial(`podman pulls with layers from the ${bucket} bucket`, async (t) => {
    const name: ImageName = `podman-${bucket}`;
    const root = join(work, `podman-${bucket}`);
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const reference = `${proxies[bucket].host}/k8s/${name}:v1`;
    await podman(root, ['pull', '--quiet', '--tls-verify=false', '--signature-policy', join(root, 'policy.json'), reference]);
    t.is((await podman(root, ['image', 'inspect', '--format', '{{.Digest}}', reference])).trim(), images[name].indexDigest);
    await assertFromBucket(t, name, bucket, layersOf(images[name], 'amd64'));
  });

  test.serial(`containerd (ctr) fetches every platform with layers from the ${bucket} bucket`, async (t) => {
    const name: ImageName = `ctr-${bucket}`;
    const c = await ctr();
    await c.ctr(['content', 'fetch', '--plain-http', '--all-platforms', `${proxies[bucket].host}/k8s/${name}:v1`], 120_000);
    const fetched = await c.ctr(['content', 'ls', '-q']);
    const image = images[name];
    for (const digest of [image.indexDigest, ...image.platforms.flatMap((p) => [p.digest, p.configDigest, ...p.layerDigests])]) t.true(fetched.includes(digest), `${digest} fetched`);
    await assertFromBucket(t, name, bucket, layersOf(image, 'all'));
  });

  test.serial(`docker pull gets layers from the ${bucket} bucket`, async (t) => {
    const name: ImageName = `docker-${bucket}`;
    docker ??= await startDocker();
    const reference = `${proxies[bucket].host}/k8s/${name}:v1`;
    await docker.docker(['pull', reference], 180_000);
    const digests = JSON.parse(await docker.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', reference])) as string[];
    t.deepEqual(digests, [`${proxies[bucket].host}/k8s/${name}@${images[name].indexDigest}`]);
    await assertFromBucket(t, name, bucket, layersOf(images[name], 'amd64'));
  });
}

test.serial('a blob missing from a bucket comes from the registry: no failed pull', async (t) => {
  const image = images.missing;
  const gone = image.platforms[0]!.layerDigests[0]!;
  await removeFromBuckets(gone);
  // skopeo through the nginx bucket, ctr through s3rver: both complete, digests checked by the clients.
  const digestFile = join(work, 'missing-digest');
  await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${proxies.nginx.host}/k8s/missing:v1`, `oci:${join(work, 'missing-out')}:v1`], {
    timeoutMs: 120_000,
  });
  t.is((await readFile(digestFile, 'utf8')).trim(), image.indexDigest);
  await assertFromBucket(t, 'missing', 'nginx', layersOf(image, 'all'), [gone]);
  const c = await ctr();
  await c.ctr(['content', 'fetch', '--plain-http', '--all-platforms', `${proxies.s3.host}/k8s/missing:v1`], 120_000);
  t.true((await c.ctr(['content', 'ls', '-q'])).includes(gone));
  // The bucket was asked (HEAD) and said 404; the GET went to the registry.
  t.true((await bucketLog('s3')).some((r) => r.digest === gone && r.method === 'HEAD' && r.status === 404));
});

test.serial('a Range request keeps working across the redirect, to nginx and to s3rver', async (t) => {
  const image = images['skopeo-nginx'];
  const digest = image.platforms[0]!.layerDigests[0]!;
  const bytes = await readFile(join(image.layoutDir, 'blobs/sha256', digest.slice('sha256:'.length)));
  const [from, to] = [10, Math.min(bytes.length - 1, 89)];
  for (const bucket of BUCKETS) {
    const before = (await bucketLog(bucket)).length;
    // curl re-sends Range to the Location it follows, as registry clients do.
    const curl = spawn('curl', ['-sS', '-L', '-r', `${from}-${to}`, '-o', '-', '-w', '\n%{http_code}', '-H', `X-Forwarded-For: ${CLIENT_IP[bucket]}`, `${redirector.url}/v2/k8s/skopeo-nginx/blobs/${digest}`]);
    const chunks: Buffer[] = [];
    curl.stdout.on('data', (c: Buffer) => chunks.push(c));
    const [code] = (await once(curl, 'close')) as [number];
    t.is(code, 0);
    const output = Buffer.concat(chunks);
    const cut = output.lastIndexOf('\n');
    t.is(output.subarray(cut + 1).toString(), '206', `${bucket}: curl got 206`);
    t.deepEqual(output.subarray(0, cut), bytes.subarray(from, to + 1), `${bucket}: the right bytes`);
    // fetch() as well (undici keeps Range on a cross-origin redirect).
    const response = await fetch(`${redirector.url}/v2/k8s/skopeo-nginx/blobs/${digest}`, { headers: { range: `bytes=${from}-${to}`, 'x-forwarded-for': CLIENT_IP[bucket] } });
    t.is(response.status, 206);
    t.deepEqual(Buffer.from(await response.arrayBuffer()), bytes.subarray(from, to + 1));
    for (let i = 0; i < 2; i++) rangedGets.push({ mirror: MIRROR[bucket], digest, bytes: to - from + 1 });
    const served = (await bucketLog(bucket)).slice(before);
    t.true(
      served.some((r) => r.digest === digest && r.status === 206),
      `${bucket} answered the ranges itself`,
    );
  }
});

test.serial('report: the egress of each bucket is the size of the blobs redirected there (the part asked for, for a Range)', async (t) => {
  const sizes = new Map<string, number>();
  for (const image of Object.values(images)) {
    for (const digest of image.platforms.flatMap((p) => [p.configDigest, ...p.layerDigests])) {
      sizes.set(digest, (await readFile(join(image.layoutDir, 'blobs/sha256', digest.slice('sha256:'.length)))).length);
    }
  }
  // A snapshot of the log, so the report and the expectation read the same lines.
  const snapshot = join(work, 'access-snapshot.jsonl');
  await copyFile(accessLog, snapshot);
  const want: Record<string, number> = {};
  for (const line of (await readFile(snapshot, 'utf8')).split('\n').filter((l) => l.trim() !== '')) {
    const l = JSON.parse(line) as AccessLogLine;
    if (l.method === 'GET' && l.status === 307 && l.mirror?.endsWith('-bucket')) want[l.mirror] = (want[l.mirror] ?? 0) + sizes.get(l.path.slice(l.path.lastIndexOf('/') + 1))!;
  }
  // A ranged GET (curl and fetch above) moves only the part it asks for.
  for (const r of rangedGets) want[r.mirror]! -= sizes.get(r.digest)! - r.bytes;
  const run = await runCli(['report', '--json', snapshot]);
  t.is(run.code, 0, run.stderr);
  const byMirror = Object.fromEntries((JSON.parse(run.stdout) as Report).cost.byMirror.map((r) => [r.name, r]));
  for (const bucket of BUCKETS) {
    t.true((want[MIRROR[bucket]] ?? 0) > 0);
    t.like(byMirror[MIRROR[bucket]], { bytes: want[MIRROR[bucket]], unsizedShare: 0 });
  }
  t.log(`egress: nginx-bucket ${want['nginx-bucket']} bytes, s3-bucket ${want['s3-bucket']} bytes`);
});

test.serial('an interrupted containerd download resumes with a Range request to the bucket', async (t) => {
  const c = await ctr();
  const image = images.resume;
  const layer = image.platforms.find((p) => p.architecture === 'amd64')!.layerDigests[0]!;
  const reference = `${proxies.nginx.host}/k8s/resume:v1`;
  // nginx sends this layer slowly: stop the client once part of it is in containerd's ingest.
  const first = spawn('ctr', ['--address', c.address, 'content', 'fetch', '--plain-http', '--platform', 'linux/amd64', reference], { stdio: 'ignore' });
  t.teardown(() => void first.kill('SIGKILL'));
  const exited = once(first, 'exit');
  const deadline = Date.now() + 60_000;
  // `ctr content active`: REF SIZE AGE, SIZE being what the ingest holds so far.
  let partial: string | undefined;
  while (Date.now() < deadline && partial === undefined) {
    const active = await c.ctr(['content', 'active']);
    const line = active.split('\n').find((l) => l.includes(layer.slice('sha256:'.length)));
    const size = line ? /\s(\d+(?:\.\d+)?)\s*([KMG]?i?B)\s/.exec(line) : null;
    if (size && Number(size[1]) > 0) partial = `${size[1]} ${size[2]}`;
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.truthy(partial, 'part of the layer was downloaded before the interruption');
  t.log(`interrupted with ${partial} of the layer's ~3 MiB in containerd's ingest`);
  first.kill('SIGKILL');
  await exited;
  t.false((await c.ctr(['content', 'ls', '-q'])).includes(layer), 'not complete after the interruption');
  await c.ctr(['content', 'fetch', '--plain-http', '--platform', 'linux/amd64', reference], 120_000);
  t.true((await c.ctr(['content', 'ls', '-q'])).includes(layer), 'complete (and verified by containerd) after the resume');
  // nginx's access log: the first GET cut short, then a 206 for the rest.
  const served = (await bucketLog('nginx')).filter((r) => r.digest === layer && r.method === 'GET');
  t.log(`nginx served the layer: ${served.map((r) => r.status).join(', ')}`);
  t.true(
    served.some((r) => r.status === 206),
    `resumed with a Range request: ${JSON.stringify(served)}`,
  );
});
