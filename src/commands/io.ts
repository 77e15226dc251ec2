/** Where a command writes; the binary passes process streams, tests pass collectors. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}
