import type { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import { errorMessage } from '../util/error-message.js';

/** Errors that only say "Redis is not reachable right now": the outage line covers them. */
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Connection is closed|Stream isn't writeable|connect ETIMEDOUT|Command timed out|enableOfflineQueue|socket hang up|MaxRetriesPerRequestError/i;

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
    if (isRedisConnectionError(err)) this.failed(err, source);
    else this.log.error({ err: errorMessage(err) }, `${source} error`);
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
    this.log.info({ downMs: Date.now() - o.since, repeatedErrors: o.suppressed }, `Redis connection back after ${((Date.now() - o.since) / 1000).toFixed(1)} s`);
  }
}
