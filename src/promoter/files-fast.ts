// A fast reader for one `files:` item in the form every real file manifest uses:
//
//   - name: 1.24.0/linux/amd64/kops
//     sha256: ba6d43a2e6858f0c53ed23b5ca241a9937628575bd0f1f768e57118d30abb40b
//     rollback: true
//
// Reading each item with the yaml library was most of a 2,000-file promotion's CPU time
// (issue 8). As in images-fast.ts, only lines it reads exactly as YAML 1.2 would are accepted
// (keys in this order, one-line scalars, comments on their own line); anything else returns
// undefined and the caller reads that item with the yaml library. test/promoter/files-fast.test.ts
// checks it against the yaml library on the real manifests.
import { scalar } from './images-fast.js';

const NAME = /^- name: (.+)$/;
const SHA256 = /^ {2}sha256: (.+)$/;
const ROLLBACK = /^ {2}rollback: (true|false)$/;
// What YAML 1.2's core schema reads as a number rather than a string.
const NUMBER = /^[-+]?(?:[0-9]+|\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?$/;

export interface FastFileItem {
  name: string;
  sha256: string;
  rollback?: boolean;
}

/** A hex digest as a plain scalar (most start with a digit, which `scalar` leaves to yaml). */
function digest(s: string): string | undefined {
  return /^[0-9a-f]+$/.test(s) && !NUMBER.test(s) ? s : scalar(s);
}

/** One item (the text from its `- name:` line to the next item), or undefined to let yaml read it. */
export function readFileItem(text: string): FastFileItem | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '' && !/^\s*#/.test(line));
  if (lines.length < 2 || lines.length > 3) return undefined;
  const name = NAME.exec(lines[0] as string);
  const sha = SHA256.exec(lines[1] as string);
  const nameValue = name ? scalar(name[1] as string) : undefined;
  const shaValue = sha ? digest(sha[1] as string) : undefined;
  if (nameValue === undefined || shaValue === undefined) return undefined;
  if (lines.length === 2) return { name: nameValue, sha256: shaValue };
  const rollback = ROLLBACK.exec(lines[2] as string);
  return rollback ? { name: nameValue, sha256: shaValue, rollback: rollback[1] === 'true' } : undefined;
}
