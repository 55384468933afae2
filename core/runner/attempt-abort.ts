import type { Abortable } from './run-cancellation.js';

/**
 * What ends one attempt early (a cancel, its timeout, the engine's
 * shutdown): the first reason wins. The plugin's AbortSignal is made only
 * when the plugin reads it (most never do, and an AbortController is most
 * of what a no-op attempt would allocate); one read after the abort gets a
 * signal already aborted with the same reason.
 */
export class AttemptAbort implements Abortable {
  private controller?: AbortController;
  private reason?: Error;
  /** Ends the race in progress, if any, with the abort's reason. */
  private rejectRace?: (reason: Error) => void;

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

  /**
   * What the plugin's run settles with, unless the attempt is aborted first
   * (then the abort's reason, however long the plugin goes on): a plugin that
   * ignores its signal still ends its attempt on time. One promise, not the
   * three Promise.race with a standing "aborted" promise would make per run.
   */
  race<T>(run: T | PromiseLike<T>): Promise<Awaited<T>> {
    // The plugin's own promise when it returns one (Promise.resolve adds none), else its value.
    const settles = Promise.resolve(run);
    if (this.reason) {
      // Aborted before the plugin could be awaited (a cancel that came first): how it ends is not awaited, nor reported.
      settles.catch(() => undefined);
      return Promise.reject(this.reason);
    }
    return new Promise<Awaited<T>>((resolve, reject) => {
      this.rejectRace = reject;
      settles.then(resolve, reject);
    });
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }
}
