// Issue 9's memory target, in `npm run bench`: the expected content of k8s.io's real image
// manifests, the audit state for 20 mirrors holding all of it, and serve's background audit plan
// over them, in heap bytes (target: under 512 MiB together). The same measurement is
// test/e2e/trust-scale.test.ts's regression check (test/helpers/trust-memory.ts).
import { existsSync } from 'node:fs';
import { K8S_IMAGE_MANIFESTS, measureTrustMemory, mib } from '../test/helpers/trust-memory.js';

const MIRRORS = 20;
const TARGET = 512 * 2 ** 20;

if (!existsSync(K8S_IMAGE_MANIFESTS)) {
  console.error(`trust memory: ${K8S_IMAGE_MANIFESTS} not found (../shared/testdata beside the project)`);
  process.exit(1);
}
const m = await measureTrustMemory(MIRRORS);
const total = m.expectedBytes + m.auditBytes + m.planBytes;
console.log(
  `trust memory: ${m.counts.images} images, ${m.counts.digests} digests, ${m.counts.tags} tags x ${MIRRORS} mirrors: expected content ${mib(m.expectedBytes)} MiB, audit state ${mib(m.auditBytes)} MiB, background audit plan (${m.units} units) ${mib(m.planBytes)} MiB; total ${mib(total)} MiB (target < 512 MiB: ${total < TARGET ? 'met' : 'NOT met'})`,
);
