// Confinement: a store reads, writes and deletes only below its own base. Names come from
// manifests and from ledgers kept in production, and bases from manifests; none of them may
// step outside with `.`/`..` segments (also percent-encoded, which URL parsers and some
// S3-compatible servers resolve), backslashes or control characters. Folder stores also
// resolve symlinks (fs.ts): a checked name could still lead elsewhere through a link.

export class ConfinementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfinementError';
  }
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function segmentProblem(segment: string): string | undefined {
  for (const s of new Set([segment, decoded(segment)])) {
    if (s === '.' || s === '..') return `a "${segment}" segment`;
    if (s.includes('\\')) return 'a backslash';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
    if (/[\u0000-\u001f]/.test(s)) return 'a control character';
  }
  return undefined;
}

/** Why `name` (relative to a base) could leave the base, or undefined. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.startsWith('/')) return 'a leading "/"';
  for (const segment of name.split('/')) {
    if (segment === '') return 'an empty segment';
    const why = segmentProblem(segment);
    if (why) return why;
  }
  return undefined;
}

/** Why a base URL (`file:///…`, `s3://…`, `gs://…`) does not name its folder or prefix directly. */
export function baseProblem(base: string): string | undefined {
  const m = /^[a-z0-9]+:\/\/[^/]*(.*)$/.exec(base);
  if (!m) return 'not a URL';
  // Empty segments are tolerated in a base (a trailing slash, `//`): they cannot climb.
  for (const segment of (m[1] ?? '').split('/')) {
    if (segment === '') continue;
    const why = segmentProblem(segment);
    if (why) return why;
  }
  return undefined;
}

export function assertBase(base: string): void {
  const why = baseProblem(base);
  if (why) throw new ConfinementError(`base ${base} has ${why}: refusing it (a base must name its folder or prefix directly)`);
}

export function assertName(base: string, name: string): void {
  const why = nameProblem(name);
  if (why) throw new ConfinementError(`${base}${name}: refusing a name with ${why} (it could leave ${base})`);
}
