// The CLI run in-process, as `artifact-serving ARGS` would run, for e2e tests of whole commands.
import { main } from '../../src/cli.js';
import { captureIo } from './io.js';

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { out, io } = captureIo();
  const code = await main(args, io);
  return { code, ...out };
}
