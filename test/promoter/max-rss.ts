// Runs the CLI (src/cli.ts main) in this process, then reports the process's peak RSS on stderr
// as `max-rss-kib N`: the large-manifest test runs it as a child to measure a whole command.
import { main } from '../../src/cli.js';

const code = await main(process.argv.slice(2), { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) });
const usage = process.resourceUsage();
process.stderr.write(`max-rss-kib ${usage.maxRSS}\ncpu-ms ${Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000)}\n`);
process.exitCode = code;
