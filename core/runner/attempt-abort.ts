import type { Abortable } from './run-cancellation.js';

/**
 * What ends one attempt early (a cancel, its timeout, the engine's
 * shutdown): the first reason wins. The plugin's AbortSignal is made only
 * when the plugin reads it (most never do, and an AbortController is most
 * of what a no-op attempt would allocate); one read after the abort gets a
 * signal already aborted with the same reason.
 */
export class AttemptAbort implements Abortable {
  /** Rejects with the reason when aborted: the attempt races its plugin against it. */
  readonly aborted: Promise<never>;
  private reject!: (reason: Error) => void;
  private controller?: AbortController;
  private reason?: Error;

  constructor() {
    this.aborted = new Promise<never>((_, reject) => (this.reject = reject));
    // Aborted before anything raced it (a cancel that came first): not an unhandled rejection.
    this.aborted.catch(() => undefined);
  }

  get isAborted(): boolean {
    return this.reason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.reject(reason);
  }
}
