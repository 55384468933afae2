import type { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import { errorMessage } from '../util/error-message.js';

/** Errors that only say "Redis is not reachable right now": the outage line covers them. */
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Connection is closed|Stream isn't writeable|connect ETIMEDOUT|Command timed out|enableOfflineQueue|socket hang up|MaxRetriesPerRequestError/i;

/** A run's lock that expired while Redis was away: the stalled-job check re-runs it; nothing to act on. */
const LOST_LOCK = /Missing lock for job|lock mismatch|could not renew lock|Missing key for job/i;
/** Lock errors this long after an outage are still its aftermath. */
const AFTERMATH_MS = 60_000;

export function isRedisConnectionError(err: unknown): boolean {
  return CONNECTION_ERROR.test(errorMessage(err)) || CONNECTION_ERROR.test(String((err as { code?: unknown })?.code ?? ''));
}

/**
 * Turns a Redis outage into two log lines for the whole process: one when
 * the first connection goes down, one when every watched connection is
 * ready again. Each ioredis client keeps reconnecting by itself; without an
 * 'error' listener ioredis would print `[ioredis] Unhandled error event`
 * stack traces, and BullMQ a "worker error" line per retry.
 */
export class RedisOutageLog {
  private readonly downClients = new Set<EventEmitter>();
  private outage?: { since: number; reason: string; suppressed: number };
  private lastRecoveredAt = 0;
  private lostLocks = 0;

  constructor(private readonly log: Logger) {}

  get isDown(): boolean {
    return this.outage !== undefined;
  }

  /** Watches an ioredis client: 'error' marks it down, 'ready' up. */
  watchClient(name: string, client: EventEmitter): void {
    client.on('error', (err: unknown) => {
      this.downClients.add(client);
      this.failed(err, name);
    });
    client.on('ready', () => {
      this.downClients.delete(client);
      if (!this.downClients.size) this.recovered();
    });
  }

  /**
   * An error of a BullMQ Queue/Worker: a connection error joins the outage
   * (logged once); anything else is logged as it is.
   */
  report(source: string, err: unknown): void {
    if (isRedisConnectionError(err)) return this.failed(err, source);
    if (LOST_LOCK.test(errorMessage(err)) && (this.outage || Date.now() - this.lastRecoveredAt < AFTERMATH_MS)) {
      // One line for the first; the rest are counted into the "back" line or dropped.
      if (this.outage) this.outage.suppressed++;
      else if (this.lostLocks++ === 0) {
        this.log.warn({ err: errorMessage(err) }, 'runs that were active during the Redis outage lost their lock: the stalled-job check re-runs them');
      }
      return;
    }
    this.log.error({ err: errorMessage(err) }, `${source} error`);
  }

  private failed(err: unknown, source: string): void {
    if (this.outage) {
      this.outage.suppressed++;
      return;
    }
    const reason = errorMessage(err);
    this.outage = { since: Date.now(), reason, suppressed: 0 };
    this.log.warn({ source, reason }, 'Redis connection lost: reconnecting in the background; scheduled fires and runs wait until it is back');
  }

  private recovered(): void {
    const o = this.outage;
    if (!o) return;
    this.outage = undefined;
    this.lastRecoveredAt = Date.now();
    this.lostLocks = 0;
    this.log.info({ downMs: Date.now() - o.since, repeatedErrors: o.suppressed }, `Redis connection back after ${((Date.now() - o.since) / 1000).toFixed(1)} s`);
  }
}
