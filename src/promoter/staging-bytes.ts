// Staging files kept in memory between the plan and the copy of one confirmed run, so each byte
// is read and hashed once (issue 8): the plan hashes a staging file it is about to copy while
// keeping its bytes, and the copy writes those same bytes, already verified, to every
// destination. Bounded: what does not fit the budget is read again by the copy, through the
// verifier, as before. Bytes are kept only when their sha256 is the manifest's.
export const DEFAULT_STAGING_BYTES_BUDGET = 512 * 2 ** 20;

export class StagingBytes {
  private readonly kept = new Map<string, { sha256: string; bytes: Buffer }>();
  private used = 0;

  constructor(private readonly budget = DEFAULT_STAGING_BYTES_BUDGET) {}

  /** Whether `size` more bytes may be kept; if so they are reserved (give them back with `release`). */
  reserve(size: number): boolean {
    if (this.used + size > this.budget) return false;
    this.used += size;
    return true;
  }

  release(size: number): void {
    this.used -= size;
  }

  /** Keep the (reserved) bytes of `location` + `name`, whose sha256 was computed from them. */
  keep(location: string, name: string, sha256: string, bytes: Buffer): void {
    this.kept.set(`${location}\n${name}`, { sha256, bytes });
  }

  /** The kept bytes of `name` if their sha256 is `sha256`. */
  get(location: string, name: string, sha256: string): Buffer | undefined {
    const k = this.kept.get(`${location}\n${name}`);
    return k?.sha256 === sha256 ? k.bytes : undefined;
  }

  /** Forget everything kept from `location` (its copies are done). */
  drop(location: string): void {
    for (const [key, { bytes }] of this.kept) {
      if (!key.startsWith(`${location}\n`)) continue;
      this.kept.delete(key);
      this.used -= bytes.length;
    }
  }
}
