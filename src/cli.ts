#!/usr/bin/env node
// artifact-serving: serve | validate | explain | promote. Each command is a function taking its
// arguments and an output sink, so tests run them in-process as well as through the binary.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { clientConfigCommand } from './commands/client-config.js';
import { dnsCommand } from './commands/dns.js';
import { explainCommand } from './commands/explain.js';
import { serveCommand } from './commands/serve.js';
import { validateConfigCommand } from './commands/validate.js';
import type { CliIO } from './commands/io.js';
import { errorMessage } from './util/error-message.js';

const USAGE = `artifact-serving: serve artifacts from the best mirror for each client, and promote them there.

Usage:
  artifact-serving serve --config FILE [--port N] [--host ADDR]   run the redirector
  artifact-serving validate FILE|DIR                              check a redirector config, or promoter manifests (a directory or one file)
  artifact-serving explain --config FILE --ip IP PATH              show how a request from IP would be routed, and why
  artifact-serving promote DIR|FILE [--confirm]                    plan (and with --confirm, run) a promotion
  artifact-serving audit --config FILE [--mirror NAME] [--json]    check each mirror against what production must hold
  artifact-serving report [--prices FILE] [--json] LOG...          cost, latency and reach per mirror and country from access logs
  artifact-serving dns --config FILE --format F                   GeoDNS records for the redirectors (octodns, pdns-geoip, zone)
  artifact-serving client-config --config FILE --for CLIENT       registry-mirror files for containerd, cri-o or docker

Run 'artifact-serving COMMAND --help' for a command's options.`;

export async function main(argv: string[], io: CliIO): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    // An unknown or malformed option is the user's mistake: say which, and where to look.
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`${errorMessage(error)}\nRun 'artifact-serving ${argv[0] ?? ''} --help' for the options.\n`);
      return 2;
    }
    throw error;
  }
}

async function run(argv: string[], io: CliIO): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(args, io);
    case 'validate':
      return validateCommand(args, io);
    case 'explain':
      return explainCommand(args, io);
    case 'dns':
      return dnsCommand(args, io);
    case 'client-config':
      return clientConfigCommand(args, io);
    case 'promote': {
      const { promoteCommand } = await import('./promoter/cli.js');
      return promoteCommand(args, io);
    }
    case 'audit': {
      const { auditCommand } = await import('./commands/audit.js');
      return auditCommand(args, io);
    }
    case 'report': {
      const { reportCommand } = await import('./report/cli.js');
      return reportCommand(args, io);
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.stdout(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function validateCommand(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, strict: false });
  const target = positionals[0];
  if (target && (isDirectory(target) || isPromoterManifest(target))) {
    const { validateManifestsCommand } = await import('./promoter/cli.js');
    return validateManifestsCommand(args, io);
  }
  return validateConfigCommand(args, io);
}

/** A kpromo single-file manifest (registries/filestores at the top), not a redirector config. */
function isPromoterManifest(path: string): boolean {
  try {
    return /^(?:registries|filestores):/m.test(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // npm links bin entries as symlinks: compare real paths.
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io: CliIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };
  main(process.argv.slice(2), io).then(
    (code) => {
      // serve keeps running (it resolves only on shutdown); other commands exit with their code.
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
