// Where a server's CPU goes per request, from `perf script` output of a `perf record -g` run:
// for each frame (a JIT-compiled JavaScript function, by name and file:line, or a native
// symbol), the samples in which it is on the stack, once per sample however deep the
// recursion. Inclusive time per frame, divided by the requests served while sampling, is what
// a change to that frame can save at most: the figure bench/profile.ts compares between two
// servers. A sampling profiler inside Node (--cpu-prof) cannot give it: it does not see the
// kernel's share (the socket write is a third of a redirect) nor libuv's threads.

/** One sample's stack, innermost frame first, as frame keys. */
export type Stack = readonly string[];

/**
 * The stacks of `perf script` text: a header line per sample, then one indented line per frame
 * (`address symbol (dso)`), then a blank line.
 */
export function parsePerfScript(text: string): Stack[] {
  const stacks: Stack[] = [];
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current) stacks.push(current);
      current = undefined;
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      current?.push(frameKey(line.trim()));
    } else {
      current = [];
    }
  }
  if (current) stacks.push(current);
  return stacks;
}

/**
 * A frame's key: `name file:line` for JavaScript (from Node's --perf-basic-prof map, `JS:*name
 * file:///path:line:column`, the marker telling the tier, which the key leaves out so a function
 * is one row however it was compiled), otherwise the native symbol without its offset.
 */
export function frameKey(frame: string): string {
  const symbol = frame.replace(/^[0-9a-f]+ /, '').replace(/ \([^()]*\)$/, '');
  const js = /JS:[*^~+]?(\S*) (?:file:\/\/)?(\S+?):(\d+):\d+/.exec(symbol);
  if (js) return `${js[1] || '(anonymous)'} ${js[2]!.split('/').at(-1)}:${js[3]}`;
  return symbol.replace(/\+0x[0-9a-f]+$/, '');
}

/** Whether a frame key names a JavaScript function (`name file:line`) rather than a native symbol. */
export function isJavaScript(key: string): boolean {
  return / \S+:\d+$/.test(key);
}

/** Samples per frame key, each counted once per stack it appears in. */
export function inclusiveSamples(stacks: readonly Stack[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const stack of stacks) {
    for (const key of new Set(stack)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
