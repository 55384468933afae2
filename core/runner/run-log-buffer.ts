import { RUN_LOG_MAX_LINE_BYTES, RUN_LOG_MAX_LINES } from '../history/run-logs.js';
import { splitLogCall, type LogSink } from './job-log-tee.js';

/** How long a logged line may wait in memory before it is written (while the attempt runs). */
export const RUN_LOG_FLUSH_MS = 250;

export interface RunLogBufferOptions {
  attempt: number;
  /** Writes one batch in one command: the lines (JSON each) and how many were logged (with those dropped here). */
  write: (lines: string[], logged: number) => Promise<unknown>;
  /** A failed write: its lines are lost, the run goes on. */
  onError?: (err: unknown) => void;
  maxLines?: number;
  maxLineBytes?: number;
  flushMs?: number;
  now?: () => number;
}

/**
 * A run attempt's log lines on their way to Redis: kept in memory and
 * written in batches (one command each), at most every `flushMs` while the
 * attempt runs and once when it ends, so a plugin never waits on Redis and
 * never pays a round trip per line. Made on the first line: an attempt that
 * logs nothing costs nothing.
 */
export class RunLogBuffer {
  private pending: string[] = [];
  private logged = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly maxLines: number;
  private readonly maxLineBytes: number;
  private readonly flushMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: RunLogBufferOptions) {
    this.maxLines = opts.maxLines ?? RUN_LOG_MAX_LINES;
    this.maxLineBytes = opts.maxLineBytes ?? RUN_LOG_MAX_LINE_BYTES;
    this.flushMs = opts.flushMs ?? RUN_LOG_FLUSH_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The sink to tee the run's logger to. Lines after close() (a plugin still going past its timeout) are not kept. */
  readonly sink: LogSink = (level, args, bindings) => {
    if (this.closed) return;
    this.pending.push(runLogLine(level, args, bindings, this.opts.attempt, this.now(), this.maxLineBytes));
    this.logged++;
    // Only the newest maxLines can be kept: drop the rest now (in bulk), so memory stays bounded.
    if (this.pending.length >= 2 * this.maxLines) this.pending.splice(0, this.pending.length - this.maxLines);
    this.timer ??= setTimeout(() => void this.flush(), this.flushMs).unref();
  };

  /** Writes what is pending (after any write under way, so lines stay in order). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.logged) return this.writing;
    const lines = this.pending.length > this.maxLines ? this.pending.slice(-this.maxLines) : this.pending;
    const logged = this.logged;
    this.pending = [];
    this.logged = 0;
    this.writing = this.writing.then(() => this.opts.write(lines, logged)).then(
      () => undefined,
      (err: unknown) => this.opts.onError?.(err),
    );
    return this.writing;
  }

  /** The attempt ended: writes the rest; later lines are not kept. */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }
}

const enc = (s: string) => JSON.stringify(s);

/**
 * One log call as a stored line (RunLogLine's JSON): time, level, attempt,
 * message and fields. A line over `maxBytes` keeps the start of its message
 * and fields' text in `msg` and its original size in `truncated`.
 */
export function runLogLine(level: string, args: unknown[], bindings: Record<string, unknown>, attempt: number, t: number, maxBytes: number): string {
  const { msg, fields } = splitLogCall(args, bindings);
  const head = `{"t":${t},"level":${enc(level)},"attempt":${attempt},"msg":`;
  const line = `${head}${enc(msg)}${fields ? `,"fields":${fields}` : ''}}`;
  const bytes = Buffer.byteLength(line);
  if (bytes <= maxBytes) return line;
  const text = fields ? `${msg} ${fields}` : msg;
  const tail = `,"truncated":${bytes}}`;
  // JSON escaping may grow the text: shrink the budget until the line fits.
  for (let budget = maxBytes - Buffer.byteLength(head) - tail.length - 8; budget > 0; ) {
    const cut = `${Buffer.from(text).subarray(0, budget).toString('utf8').replace(/\uFFFD$/, '')}…`;
    const out = `${head}${enc(cut)}${tail}`;
    const over = Buffer.byteLength(out) - maxBytes;
    if (over <= 0) return out;
    budget -= over;
  }
  return `${head}""${tail}`;
}
