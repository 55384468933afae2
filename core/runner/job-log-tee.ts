import { format } from 'node:util';
import type { Logger } from '../logging/logger.js';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
/** Written to the job log whatever the process's log level (Bull Board is where a run's story is read). */
const ALWAYS = new Set(['fatal', 'error', 'warn', 'info']);

/** Where a run's log calls go besides the logger: the level, pino's arguments, and the bindings of `child()` loggers. */
export type LogSink = (level: string, args: unknown[], bindings: Record<string, unknown>) => void;

/** Errors as their message (JSON.stringify writes `{}` for them). */
function fieldValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * One pino call as a message and its fields' JSON (`''` when none). Never
 * throws: a field JSON cannot write (a cycle) becomes `{"unserializable": why}`,
 * so logging never fails a plugin.
 */
export function splitLogCall(args: unknown[], bindings: Record<string, unknown> = {}): { msg: string; fields: string } {
  const [first, ...rest] = args;
  const hasFields = typeof first === 'object' && first !== null;
  const msg = hasFields ? (rest.length ? format(...rest) : '') : format(...args);
  const own = !hasFields ? {} : first instanceof Error ? { err: first.message } : Array.isArray(first) ? { value: first } : first;
  const merged = Object.keys(bindings).length ? { ...bindings, ...own } : own;
  let fields: string;
  try {
    fields = JSON.stringify(merged, fieldValue);
  } catch (err) {
    fields = JSON.stringify({ unserializable: err instanceof Error ? err.message : String(err) });
  }
  return { msg, fields: fields === '{}' ? '' : fields };
}

/** One pino call as one line: `<level> <message> {fields}`. */
export function jobLogLine(level: string, args: unknown[], bindings: Record<string, unknown> = {}): string {
  const { msg, fields } = splitLogCall(args, bindings);
  return `${level} ${msg}${fields ? ` ${fields}` : ''}`;
}

/**
 * The logger, whose calls also go to each sink: info and above always, debug
 * and trace when the logger has them enabled. Sinks must not throw or block;
 * `child()` loggers tee to the same sinks, their bindings passed along.
 */
export function teeLogger(log: Logger, sinks: LogSink[], bindings: Record<string, unknown> = {}): Logger {
  return new Proxy(log, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'child' && typeof value === 'function') {
        return (childBindings: Record<string, unknown>, ...rest: unknown[]) =>
          teeLogger(Reflect.apply(value, target, [childBindings, ...rest]) as Logger, sinks, { ...bindings, ...childBindings });
      }
      if (typeof prop !== 'string' || !LEVELS.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (ALWAYS.has(prop) || target.isLevelEnabled(prop)) for (const sink of sinks) sink(prop, args, bindings);
        return Reflect.apply(value, target, args);
      };
    },
  });
}

/**
 * The run's logger, whose lines also go to the BullMQ job's log, so Bull
 * Board shows what a run said (and to `also`, e.g. the run's own log kept
 * with its record). The job-log write is not awaited: a plugin never waits
 * for it, and a failed write (Redis gone) is dropped, never an error of the run.
 */
export function teeToJobLog(log: Logger, writeLine: (line: string) => Promise<unknown>, also?: LogSink): Logger {
  const toJobLog: LogSink = (level, args, bindings) => void writeLine(jobLogLine(level, args, bindings)).catch(() => undefined);
  return teeLogger(log, also ? [toJobLog, also] : [toJobLog]);
}
