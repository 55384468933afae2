import { isLoopbackHost } from '../util/loopback-host.js';
import type { EngineConfig } from './engine-config.js';

/** Shorter admin tokens are refused: guessable, not a secret. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** A configuration the engine refuses to start with; nothing was touched yet. */
export class StartConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `refusing to start:\n  - ${problems.join('\n  - ')}`);
    this.name = 'StartConfigError';
  }
}

export interface StartCheckOptions {
  /** The process serves the admin API (tideflow start). */
  api: boolean;
}

/** Every reason to refuse this configuration; empty when it may start. */
export function startConfigProblems(config: EngineConfig, opts: StartCheckOptions): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    problems.push(`PORT must be an integer 0..65535, got ${String(config.port)}`);
  }
  if (!Number.isInteger(config.concurrency) || config.concurrency < 1 || config.concurrency > 1000) {
    problems.push(`TIDEFLOW_CONCURRENCY must be an integer 1..1000, got ${String(config.concurrency)}`);
  }
  if (opts.api) {
    const token = config.adminToken?.trim();
    if (token !== undefined && token.length < MIN_ADMIN_TOKEN_LENGTH) {
      problems.push(
        `TIDEFLOW_ADMIN_TOKEN is ${token.length} characters long: too short to be secret; use at least ${MIN_ADMIN_TOKEN_LENGTH} random characters (e.g. openssl rand -base64 32)`,
      );
    }
    if (!token && !isLoopbackHost(config.host)) {
      problems.push(
        `refusing to serve the admin API on non-loopback host ${JSON.stringify(config.host)} without a configured token: ` +
          'set TIDEFLOW_ADMIN_TOKEN (a long random secret), or bind to 127.0.0.1 (HOST=127.0.0.1)',
      );
    }
  }
  return problems;
}

/**
 * Throws a StartConfigError naming every problem (the engine's and the
 * plugins' `more`): called before anything touches Redis, a plugin's
 * services or the data dir.
 */
export function assertStartConfig(config: EngineConfig, opts: StartCheckOptions, more: string[] = []): void {
  const problems = [...startConfigProblems(config, opts), ...more];
  if (problems.length) throw new StartConfigError(problems);
}
