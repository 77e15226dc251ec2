// What went wrong, as text, from anything a catch clause receives.

/** An Error's message; a thrown string or other value as text. For catch clauses (`unknown`). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  return String(error);
}
