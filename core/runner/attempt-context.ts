import type { RunTrigger } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';
import type { PluginContext } from '../plugin/plugin.js';
import type { AttemptAbort } from './attempt-abort.js';

/**
 * What one attempt's plugin gets (PluginContext). Its signal and its log are
 * made when the plugin first reads them (most runs of most plugins read
 * neither); a class, not an object literal with getters, which V8 builds
 * on a slow path for every run.
 */
export class AttemptContext<C = unknown> implements PluginContext<C> {
  readonly #abort: AttemptAbort;
  readonly #openLog: () => Logger;
  #log?: Logger;

  constructor(
    readonly config: C,
    readonly runId: string,
    readonly workflow: string,
    readonly job: string,
    readonly trigger: RunTrigger,
    readonly attempt: number,
    readonly causedBy: string | undefined,
    readonly inputFrom: PluginContext['inputFrom'],
    abort: AttemptAbort,
    openLog: () => Logger,
  ) {
    this.#abort = abort;
    this.#openLog = openLog;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get log(): Logger {
    return (this.#log ??= this.#openLog());
  }
}
