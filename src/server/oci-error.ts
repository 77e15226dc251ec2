// Errors in the distribution spec's JSON shape, for every endpoint: registry clients print the
// message, and people with curl get the same clear text.
export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export function ociErrorBody(code: string, message: string, detail?: unknown): OciErrorBody {
  return { errors: [detail === undefined ? { code, message } : { code, message, detail }] };
}
