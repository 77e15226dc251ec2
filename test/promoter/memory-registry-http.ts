// A MemoryRegistry's content served over node:http on 127.0.0.1: the read side of the
// distribution API the promoter's planning uses (tags lists paginated with `n`/`last` and a
// `Link` header, manifests HEAD/GET, blobs GET; no referrers API), fast enough to stand in for
// 40 registries of 10k digests each in bench/promoter-plan.ts, and counting requests by kind.
// Repositories may be shared between registries (the same object in several `repos` maps).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MemoryRegistry } from './memory-registry.js';

export interface HttpRegistry {
  /** `127.0.0.1:port`, for RegistryClient and manifests. */
  host: string;
  /** Requests answered, by `METHOD kind` (`GET tags`, `HEAD manifests`, …). */
  requests: Map<string, number>;
  close(): Promise<void>;
}

const ROUTE = /^\/v2\/(.+)\/(tags\/list|manifests|blobs|referrers)(?:\/([^/?]+))?$/;

export async function serveOverHttp(registry: Pick<MemoryRegistry, 'repos'>, opts: { pageSize?: number; tagDigests?: boolean } = {}): Promise<HttpRegistry> {
  const requests = new Map<string, number>();
  const pageSize = opts.pageSize ?? 100;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const m = ROUTE.exec(url.pathname);
    const kind = m ? (m[2] as string).split('/')[0] : url.pathname === '/v2/' ? 'base' : 'other';
    requests.set(`${req.method} ${kind}`, (requests.get(`${req.method} ${kind}`) ?? 0) + 1);
    if (url.pathname === '/v2/') return send(res, 200, '{}');
    if (!m) return notFound(res, 'NAME_UNKNOWN');
    const [, name, what, ref] = m as unknown as [string, string, string, string | undefined];
    const repo = registry.repos.get(name);
    if (what === 'tags/list') {
      if (!repo || repo.tags.size === 0) return notFound(res, 'NAME_UNKNOWN');
      const all = [...repo.tags.keys()].sort();
      const last = url.searchParams.get('last');
      const start = last === null ? 0 : all.findIndex((t) => t > last);
      const n = Math.min(Number(url.searchParams.get('n') ?? pageSize) || pageSize, pageSize);
      const page = start < 0 ? [] : all.slice(start, start + n);
      const more = start >= 0 && start + n < all.length;
      const headers: Record<string, string> = more ? { link: `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1) as string)}>; rel="next"` } : {};
      const body: Record<string, unknown> = { name, tags: page };
      if (opts.tagDigests) {
        const manifest: Record<string, { tag: string[] }> = {};
        for (const tag of page) {
          const digest = repo.tags.get(tag) as string;
          manifest[digest] ??= { tag: [] };
          manifest[digest].tag.push(tag);
        }
        body.manifest = manifest;
      }
      return send(res, 200, JSON.stringify(body), headers);
    }
    if (what === 'manifests' && ref) {
      const digest = ref.startsWith('sha256:') ? ref : repo?.tags.get(ref);
      const found = digest === undefined ? undefined : repo?.manifests.get(digest);
      if (!found || digest === undefined) return notFound(res, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': found.mediaType, 'docker-content-digest': digest, 'content-length': found.bytes.length });
      return res.end(req.method === 'HEAD' ? undefined : found.bytes);
    }
    if (what === 'blobs' && ref) {
      const blob = repo?.blobs.get(ref);
      if (!blob) return notFound(res, 'BLOB_UNKNOWN');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': ref, 'content-length': blob.length });
      return res.end(req.method === 'HEAD' ? undefined : blob);
    }
    return notFound(res, 'UNSUPPORTED');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function notFound(res: ServerResponse, code: string): void {
  send(res, 404, JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] }));
}
