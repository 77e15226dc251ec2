// The five request headers the redirect path reads, in one pass over Node's raw header list.
// Touching `req.headers` makes Node build an object of every header a client sent (a Docker
// client sends a dozen), which profiled at a few percent of a redirect; this reads only ours.

export interface RedirectHeaders {
  /** Every X-Forwarded-For header, joined with ', ' in order, as Node's req.headers joins them. */
  forwardedFor?: string;
  /** The first User-Agent (Node keeps the first of a duplicate). */
  userAgent?: string;
  /** Every Accept header, joined with ', '. */
  accept?: string;
  /** Every Range header, joined with ', ': what part of the object a GET fetches, for the access log's egress. */
  range?: string;
  /** `X-Artifact-Debug: 1` (exactly one such header) asks for the reasons in headers. */
  debug: boolean;
}

/** `raw` is IncomingMessage.rawHeaders: [name, value, name, value, ...], names as sent. */
export function readRedirectHeaders(raw: readonly string[]): RedirectHeaders {
  const found: RedirectHeaders = { debug: false };
  let debug: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // Compare lengths first: most headers are none of ours and cost no lower-casing.
    switch (name.length) {
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') found.forwardedFor = found.forwardedFor === undefined ? raw[i + 1]! : `${found.forwardedFor}, ${raw[i + 1]!}`;
        break;
      case 10:
        if (found.userAgent === undefined && name.toLowerCase() === 'user-agent') found.userAgent = raw[i + 1]!;
        break;
      case 5:
        if (name.toLowerCase() === 'range') found.range = found.range === undefined ? raw[i + 1]! : `${found.range}, ${raw[i + 1]!}`;
        break;
      case 6:
        if (name.toLowerCase() === 'accept') found.accept = found.accept === undefined ? raw[i + 1]! : `${found.accept}, ${raw[i + 1]!}`;
        break;
      case 16:
        if (name.toLowerCase() === 'x-artifact-debug') debug = debug === undefined ? raw[i + 1]! : `${debug}, ${raw[i + 1]!}`;
        break;
    }
  }
  found.debug = debug === '1';
  return found;
}
