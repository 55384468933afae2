import { format } from 'node:util';
import type { Logger } from '../logging/logger.js';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
/** Written to the job log whatever the process's log level (Bull Board is where a run's story is read). */
const ALWAYS = new Set(['fatal', 'error', 'warn', 'info']);

/** Errors as their message (JSON.stringify writes `{}` for them). */
function fieldValue(_key: string, value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

/** One pino call as one line: `<level> <message> {fields}`. */
export function jobLogLine(level: string, args: unknown[]): string {
  const [first, ...rest] = args;
  const hasFields = typeof first === 'object' && first !== null;
  const msg = hasFields ? (rest.length ? format(...rest) : '') : format(...args);
  let fields = '';
  if (hasFields) {
    const json = first instanceof Error ? JSON.stringify({ err: first.message }) : JSON.stringify(first, fieldValue);
    if (json !== '{}') fields = ` ${json}`;
  }
  return `${level} ${msg}${fields}`;
}

/**
 * The run's logger, whose lines also go to the BullMQ job's log, so Bull
 * Board shows what a run said: info and above always, debug and trace when
 * the logger has them enabled. The job-log write
 * is not awaited: a plugin never waits for it, and a failed write (Redis gone)
 * is dropped, never an error of the run.
 */
export function teeToJobLog(log: Logger, writeLine: (line: string) => Promise<unknown>): Logger {
  return new Proxy(log, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !LEVELS.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (ALWAYS.has(prop) || target.isLevelEnabled(prop)) writeLine(jobLogLine(prop, args)).catch(() => undefined);
        return Reflect.apply(value, target, args);
      };
    },
  });
}
