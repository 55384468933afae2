import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  /** Human-readable lines (default when stdout is a TTY or TIDEFLOW_LOG_PRETTY=1). */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.TIDEFLOW_LOG_LEVEL ?? 'info';
  const wantPretty = opts.pretty ?? (process.env.TIDEFLOW_LOG_PRETTY !== '0');
  if (!wantPretty) return pino({ level, base: undefined });
  return pino(
    { level, base: undefined },
    pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }),
  );
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
