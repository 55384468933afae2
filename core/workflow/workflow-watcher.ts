import { watch, type FSWatcher } from 'node:fs';

/**
 * Calls `onChange` (debounced, never concurrently) when any workflow file in
 * the folder is added, edited or removed. Editors save in bursts (temp file,
 * rename), hence the debounce.
 */
export class WorkflowWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly onChange: () => Promise<void>,
    private readonly debounceMs = 200,
  ) {}

  start(): void {
    this.watcher = watch(this.dir, (_event, file) => {
      if (file && !String(file).endsWith('.json')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.running = this.running.then(this.onChange).catch(() => undefined);
      }, this.debounceMs);
    });
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    await this.running;
  }
}
