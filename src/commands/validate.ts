// `validate FILE`: every problem in a redirector config, as file:line:column: message.
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/yaml-source.js';
import type { CliIO } from './io.js';
import { loadExpected } from '../trust/expected.js';

const HELP = `Usage: artifact-serving validate FILE

Checks a redirector config: YAML syntax, unknown keys, URLs, region names, mirror references,
duplicate prefixes and routes without a default. Prints every problem as file:line:column.
Exit status: 0 valid, 1 invalid, 2 usage error.
A directory is validated as promoter manifests instead (see 'artifact-serving validate DIR --help').
`;

export async function validateConfigCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    io.stderr(`validate takes exactly one FILE or DIR\n\n${HELP}`);
    return 2;
  }
  const file = positionals[0]!;
  const result = loadConfigFile(file);
  if (!result.ok) {
    io.stderr(`${result.problems.map(formatProblem).join('\n')}\n${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const { config } = result;
  // The expected content a trust: block names (promoter manifests, ledgers) is part of the config.
  const expected = await loadExpected(config.trust);
  if (!expected.ok) {
    io.stderr(`${expected.problems.map(formatProblem).join('\n')}\n${file}: ${expected.problems.length} problem${expected.problems.length === 1 ? '' : 's'} in its expected content\n`);
    return 1;
  }
  const routes = config.binaryRoutes.length + config.ociRoutes.length;
  io.stdout(`${file}: ok (${routes} route${routes === 1 ? '' : 's'}, ${config.mirrors.size} mirror${config.mirrors.size === 1 ? '' : 's'})\n`);
  return 0;
}
