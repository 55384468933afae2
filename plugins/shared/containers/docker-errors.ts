import { errorMessage } from '../../../core/util/error-message.js';
import type Docker from 'dockerode';

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EACCES', 'ENOTCONN']);

export function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

/** Where the client points, for messages: the socket path or host:port. */
export function engineAddress(docker: Docker): string {
  const m = (docker as unknown as { modem?: { socketPath?: string; host?: string; port?: number } }).modem;
  if (m?.socketPath) return `unix://${m.socketPath}`;
  return m?.host ? `tcp://${m.host}:${m.port ?? 2375}` : 'the configured engine';
}

/** True when the error means "no engine answers" (as opposed to an API error). */
export function isEngineUnreachable(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

/**
 * A plain (retryable) Error that says clearly the engine is down and what to
 * do. Whether the run is retried is the runner's to say (its attempts may be
 * used up), so the message makes no promise.
 */
export function engineUnreachableError(docker: Docker, err: unknown): Error {
  const detail = errorMessage(err);
  return new Error(`Docker engine not reachable at ${engineAddress(docker)} (${detail}); is dockerd running?`, { cause: err });
}

/** What to throw for a failed Docker call: the clear "engine not reachable" error, or the error itself. */
export function explainEngineError(docker: Docker, err: unknown): unknown {
  return isEngineUnreachable(err) ? engineUnreachableError(docker, err) : err;
}

/** 409 "removal of container ... is already in progress": Docker (e.g. AutoRemove) is finishing it. */
export function isRemovalInProgress(err: unknown): boolean {
  return statusCode(err) === 409 && /already in progress/i.test(errorMessage(err));
}

/** Pings the engine, turning a connection failure into the clear error above. */
export async function pingEngine(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    if (isEngineUnreachable(err) || statusCode(err) === undefined) throw engineUnreachableError(docker, err);
    throw err;
  }
}
