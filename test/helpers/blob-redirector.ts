// The redirector of the blob-bucket e2e tests (issue 13): two buckets, an nginx folder and an
// s3rver bucket, in front of one registry. Client 10.1.0.5 is sent to the nginx bucket, 10.2.0.5
// to s3rver (blobs only; manifests and blobs a bucket lacks come from the registry); each client
// is a forwarding proxy setting X-Forwarded-For, as a load balancer would.
import { writeConfig } from './config.js';
import { startForwardingProxy, type ForwardingProxy } from './forwarding-proxy.js';
import { startRedirectorProcess, type RedirectorProcess } from './redirector.js';

export type Bucket = 'nginx' | 's3';
export const BUCKETS: Bucket[] = ['nginx', 's3'];
export const CLIENT_IP: Record<Bucket, string> = { nginx: '10.1.0.5', s3: '10.2.0.5' };
export const MIRROR: Record<Bucket, string> = { nginx: 'nginx-bucket', s3: 's3-bucket' };

export interface BlobRedirector {
  redirector: RedirectorProcess;
  /** The client of each bucket's region: pull through `clients[bucket].host`. */
  clients: Record<Bucket, ForwardingProxy>;
  stop(): Promise<void>;
}

/** `blobs`: each bucket's base URL (what the redirector puts before `containers/images/sha256:<hex>`). */
export async function startBlobRedirector(blobs: Record<Bucket, string>, registryUrl: string, accessLog: string): Promise<BlobRedirector> {
  const config = writeConfig(`trustedProxies: [127.0.0.1/32]
health: { checkTimeoutMs: 10000 }
mirrors:
  ${MIRROR.nginx}: { blobs: ${blobs.nginx} }
  ${MIRROR.s3}: { blobs: ${blobs.s3} }
  registry: { registry: ${registryUrl} }
routes:
  - prefix: /v2/
    regions:
      ${CLIENT_IP.nginx}/32: [${MIRROR.nginx}, registry]
      ${CLIENT_IP.s3}/32: [${MIRROR.s3}, registry]
    default: registry
`);
  const redirector = await startRedirectorProcess(config, ['--access-log', accessLog, '--no-watch']);
  const clients = {} as Record<Bucket, ForwardingProxy>;
  try {
    for (const bucket of BUCKETS) clients[bucket] = await startForwardingProxy(redirector.url, CLIENT_IP[bucket]);
  } catch (error) {
    await Promise.all(Object.values(clients).map((c) => c.close()));
    await redirector.stop();
    throw error;
  }
  return {
    redirector,
    clients,
    async stop() {
      await Promise.all(Object.values(clients).map((c) => c.close()));
      await redirector.stop();
    },
  };
}
