// Load generation for the redirect-path bench: Debian's wrk, driven by a generated Lua script.
// wrk is a C event loop on its own core, so the server, not the load generator, is what runs out
// of CPU (autocannon, in Node, shared the two cores with the server it measured). Requests are
// built once in the script's init() and only picked per request, so the script costs wrk little.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkResult {
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Connect, read, write and timeout errors, and answers with a status of 400 or more. */
  errors: number;
}

export interface WrkLoad {
  port: number;
  paths: readonly string[];
  /** Client addresses sent in X-Forwarded-For, cycled; or this many distinct ones, each sent once per cycle. */
  clients: readonly string[] | { distinct: number };
  connections: number;
  durationSeconds: number;
  /**
   * Paced load: after each answer a connection waits a random 0..2×mean whole milliseconds, so
   * requests arrive spread out at about connections / mean per second instead of in bursts.
   * wrk's delay() has millisecond resolution, hence the many connections for a high rate.
   */
  meanDelayMs?: number;
}

const luaString = (text: string) => `"${text.replace(/[\\"]/g, '\\$&')}"`;

function script(load: WrkLoad): string {
  const clients = Array.isArray(load.clients)
    ? `local ips = {${load.clients.map(luaString).join(',')}}`
    : // Distinct public IPv4 addresses, a fixed stride apart: every one new to the server's memo.
      `local ips = {}
for n = 0, ${(load.clients as { distinct: number }).distinct - 1} do
  local k = (n * 7919) % 16000000
  ips[#ips + 1] = (11 + math.floor(k / 65536)) .. "." .. (math.floor(k / 256) % 256) .. "." .. (k % 256) .. ".7"
end`;
  return `${clients}
local paths = {${load.paths.map(luaString).join(',')}}
local requests = {}
local i = 0
init = function(args)
  for k = 1, #ips do
    requests[k] = wrk.format("GET", paths[((k - 1) % #paths) + 1], { ["X-Forwarded-For"] = ips[k] })
  end
end
request = function()
  i = (i % #requests) + 1
  return requests[i]
end
${load.meanDelayMs ? `delay = function() return math.random(0, ${2 * load.meanDelayMs}) end` : ''}
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %.1f %.3f %.3f %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
`;
}

export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'artifact-serving-wrk-'));
  const file = join(dir, 'load.lua');
  writeFileSync(file, script(load));
  const args = ['-t1', `-c${load.connections}`, `-d${load.durationSeconds}s`, '--timeout', '5s', '-s', file, `http://127.0.0.1:${load.port}/`];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`wrk could not start (apt-get install wrk): ${error.message}`)));
    child.once('exit', resolve);
  });
  const match = /WRK_RESULT (\S+) (\S+) (\S+) (\d+)/.exec(output);
  if (code !== 0 || !match) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}):\n${output}`);
  return { rps: Number(match[1]), p50: Number(match[2]), p99: Number(match[3]), errors: Number(match[4]) };
}
