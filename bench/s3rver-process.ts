// An s3rver in a process of its own, for bench/promoter-copy.ts: `node --import tsx
// bench/s3rver-process.ts BUCKET...` starts it on a free 127.0.0.1 port with the buckets, prints
// `s3rver ready <endpoint>` once it answers, and stops (removing its folder) on SIGTERM or when
// its parent closes stdin. In the bench's own process it shared one event loop with the promoter
// it served, which slowed ours and not `aws s3 cp` (a separate process): an unfair comparison.
import { startS3 } from '../test/promoter/s3.js';

const s3 = await startS3(process.argv.slice(2));
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void s3.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop).resume(); // the parent went away without a signal
console.log(`s3rver ready ${s3.endpoint}`);
