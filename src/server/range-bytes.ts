// How many bytes a redirected GET will fetch from the mirror, for the access log's egress
// figure: the whole object, or for a `Range: bytes=...` request (a resumed or parallel download)
// only the part asked for. Otherwise `report` counted every resumed layer in full.

/**
 * Bytes of an object of `size` that `range` selects (RFC 9110 byte ranges, several allowed,
 * overlaps not merged: clients do not send them); the whole size for no range or one that does
 * not parse (the mirror then sends the whole object too).
 */
export function bytesFetched(size: number | undefined, range: string | undefined): number | undefined {
  if (size === undefined || range === undefined) return size;
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(range);
  if (!match) return size;
  let total = 0;
  for (const part of match[1]!.split(',')) {
    const spec = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(part);
    if (!spec || (spec[1] === '' && spec[2] === '')) return size;
    if (spec[1] === '') {
      // `-N`: the last N bytes.
      total += Math.min(Number(spec[2]), size);
      continue;
    }
    const first = Number(spec[1]);
    if (first >= size) continue;
    const last = spec[2] === '' ? size - 1 : Math.min(Number(spec[2]), size - 1);
    if (last < first) return size;
    total += last - first + 1;
  }
  return Math.min(total, size);
}
