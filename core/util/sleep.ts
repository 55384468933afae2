import { setTimeout as delay } from 'node:timers/promises';

/** Waits `ms`; an abort rejects at once with the signal's own reason (not a generic AbortError). */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    throw signal?.aborted ? (signal.reason ?? err) : err;
  }
}
