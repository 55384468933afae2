/**
 * Thrown by a plugin when retrying cannot help (bad input, missing image...).
 * The runner fails the job at once instead of spending its remaining attempts.
 */
export class NonRetryableError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

export function isNonRetryable(err: unknown): boolean {
  return err instanceof Error && (err as { retryable?: unknown }).retryable === false;
}
