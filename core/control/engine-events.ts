import type { RunRecord } from '../history/run-record.js';

/**
 * Emitted by the runner as runs change state; /metrics and the dashboard
 * subscribe. `output` is the plugin's return value (on success only).
 */
export type RunEvent =
  | { type: 'started'; run: RunRecord }
  | { type: 'succeeded'; run: RunRecord; output: unknown }
  | { type: 'failed'; run: RunRecord; willRetry: boolean; error: string };

export interface RunEventSource {
  on(event: 'run', listener: (e: RunEvent) => void): unknown;
  off(event: 'run', listener: (e: RunEvent) => void): unknown;
}
