// Turn a manifest location into a client: file:// and s3:// (and gs://) filestores, OCI
// registries. Built once per run and passed in, so tests can point everything at local peers.
import { S3Client } from '@aws-sdk/client-s3';
import type { CredentialLookup } from '../oci/auth.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from '../oci/http.js';
import { RegistryClient } from '../oci/client.js';
import type { RetryOptions } from '../net/retry.js';
import { PauseGate } from './pause-gate.js';
import { DescriptorBudget, FsStore } from './stores/fs.js';
import { GcsStore } from './stores/gcs.js';
import { S3Store } from './stores/s3.js';
import type { FileStore } from './stores/store.js';

export interface Backends {
  store(base: string): FileStore;
  /** One client per registry host, so tokens are reused across repositories. */
  registry(host: string): RegistryClient;
}

export interface BackendEnv {
  /** S3 endpoint override (s3rver, MinIO); implies path-style addressing. */
  AWS_ENDPOINT_URL_S3?: string | undefined;
  AWS_ENDPOINT_URL?: string | undefined;
  AWS_REGION?: string | undefined;
  /** Cloud Storage API root (an emulator in tests); default https://storage.googleapis.com. */
  GCS_ENDPOINT?: string | undefined;
  /** An OAuth access token for Cloud Storage (e.g. `gcloud auth print-access-token`). */
  GOOGLE_OAUTH_ACCESS_TOKEN?: string | undefined;
}

export function s3ClientFor(env: BackendEnv, timeouts: Timeouts = DEFAULT_TIMEOUTS): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return new S3Client({
    region: env.AWS_REGION ?? 'us-east-1',
    // Connect, and socket idle (no bytes either way) limits: a silent endpoint fails, never hangs.
    requestHandler: { connectionTimeout: timeouts.responseMs, requestTimeout: timeouts.idleMs, throwOnRequestTimeout: true },
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // Checksums only when the API requires them: S3-compatible servers differ in what they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Well under the usual 1,024 soft limit on open files, with room for everything else. */
const KEPT_DESCRIPTORS = 512;

export function createBackends(opts: { s3?: S3Client; env?: BackendEnv; credentials?: CredentialLookup; fetch?: typeof fetch; timeouts?: Timeouts; retry?: RetryOptions } = {}): Backends & { close(): void } {
  const timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS;
  let s3 = opts.s3;
  const stores = new Map<string, FileStore>();
  const registries = new Map<string, RegistryClient>();
  // Open descriptors folder batches may hold between write and commit, across all destinations.
  const descriptors = new DescriptorBudget(KEPT_DESCRIPTORS);
  return {
    registry(host: string): RegistryClient {
      let r = registries.get(host);
      if (!r) {
        // Every client of this host waits out a 429 any of them got (pause-gate.ts).
        const gated = new PauseGate().wrap(opts.fetch ?? ((input, init) => fetch(input, init)));
        r = new RegistryClient(host, { timeouts, ...(opts.retry ? { retry: opts.retry } : {}), ...(opts.credentials ? { credentials: opts.credentials } : {}), fetch: gated });
        registries.set(host, r);
      }
      return r;
    },
    store(base: string): FileStore {
      let s = stores.get(base);
      if (s) return s;
      if (base.startsWith('file://')) s = new FsStore(base, descriptors);
      else if (base.startsWith('s3://')) {
        s3 ??= s3ClientFor(opts.env ?? {}, timeouts);
        s = new S3Store(base, s3);
      } else if (base.startsWith('gs://')) {
        const token = opts.env?.GOOGLE_OAUTH_ACCESS_TOKEN;
        s = new GcsStore(base, { endpoint: opts.env?.GCS_ENDPOINT ?? 'https://storage.googleapis.com', token: async () => token, timeouts, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
      } else s = unsupported(base);
      stores.set(base, s);
      return s;
    },
    close() {
      if (!opts.s3) s3?.destroy();
    },
  };
}

/** A store that fails every call, so the location is reported unreachable instead of crashing the run. */
function unsupported(base: string): FileStore {
  const fail = async (): Promise<never> => {
    throw new Error(`no backend for ${base}`);
  };
  return { base, stat: fail, read: fail, write: fail, delete: fail, readText: fail, writeText: fail };
}
