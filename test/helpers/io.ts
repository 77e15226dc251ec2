// A CliIO that collects what a command writes, for tests that call commands in-process.
import type { CliIO } from '../../src/commands/io.js';

export function captureIo(): { out: { stdout: string; stderr: string }; io: CliIO } {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (s) => {
        out.stdout += s;
      },
      stderr: (s) => {
        out.stderr += s;
      },
    },
  };
}
