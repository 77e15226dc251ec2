// Verify a byte stream against a sha256 (and size) while it flows, and hold back the last chunk
// until the digest is known: a writer downstream never receives a complete body that fails
// verification, so an upload of tampered bytes is cut short and never becomes an object.
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(`${what}: sha256 is ${actual}, expected ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

function verifyingStream(expectedSha256: string, what: string, expectedSize?: number): Transform {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      const prior = held;
      held = chunk;
      done(null, prior);
    },
    flush(done: TransformCallback) {
      const actual = hash.digest('hex');
      if (actual !== expectedSha256) return done(new DigestMismatchError(expectedSha256, actual, what));
      if (expectedSize !== undefined && size !== expectedSize) return done(new Error(`${what}: ${size} bytes, expected ${expectedSize}`));
      done(null, held);
    },
  });
}

export async function sha256OfStream(stream: AsyncIterable<Buffer | Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** `source` piped through a verifier; a read error on `source` becomes an error of the result. */
export function verified(source: Readable, expectedSha256: string, what: string, expectedSize?: number): Readable {
  const v = verifyingStream(expectedSha256, what, expectedSize);
  source.once('error', (e) => v.destroy(e));
  return source.pipe(v);
}
