/**
 * Polls `fn` every `intervalMs` until `ok` accepts its value or the deadline
 * passes, and returns the last value (the caller asserts on it, so a failure
 * shows what was seen rather than a bare timeout).
 */
export async function pollUntil<T>(fn: () => Promise<T>, ok: (v: T) => boolean, deadlineMs: number, intervalMs = 50): Promise<T> {
  const end = Date.now() + deadlineMs;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, intervalMs));
    v = await fn();
  }
  return v;
}
