import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { EngineKeys } from '../redis/engine-keys.js';

/** Thrown into a run's AbortSignal when a person cancels it. */
export class RunCancelledError extends Error {
  /** `reason`: why, when it is not a person's request (e.g. the fire that replaced it). */
  constructor(reason?: string) {
    super(reason ? `cancelled: ${reason}` : 'cancelled');
    this.name = 'RunCancelledError';
  }
}

/** A running attempt as far as cancelling it goes. */
export interface Abortable {
  readonly isAborted: boolean;
  abort(reason: Error): void;
}

/** How long a cancel request for a run not (yet) running here is remembered: it may be taken a moment later. */
const REMEMBER_MS = 5 * 60_000;

/**
 * Cancel requests, heard by every runner on one pub/sub channel: the runner
 * running the run aborts it. A request for a run that is not running here
 * yet is remembered for a while, so a run taken just after its cancel is
 * cancelled as it starts (no Redis round trip per run).
 */
export class RunCancellation {
  private readonly running = new Map<string, Abortable>();
  private readonly requested = new Map<string, { at: number; reason?: string }>();
  private subscriber?: Redis;

  constructor(
    private readonly connection: Redis,
    private readonly keys: EngineKeys,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const sub = (this.subscriber = this.connection.duplicate());
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, message: string) => {
      // A bare run id (a person's cancel), or JSON { runId, reason } (e.g. overlap "cancel-previous").
      if (!message.startsWith('{')) return this.request(message);
      try {
        const { runId, reason } = JSON.parse(message) as { runId?: unknown; reason?: unknown };
        if (typeof runId === 'string') this.request(runId, typeof reason === 'string' ? reason : undefined);
      } catch {
        // Not ours: ignored.
      }
    });
    await sub.subscribe(this.keys.cancelChannel);
  }

  async stop(): Promise<void> {
    this.subscriber?.disconnect();
  }

  /** Publishes a cancel request for a run to every runner; `reason` ends up in the run's error. */
  static publish(redis: Redis, keys: EngineKeys, runId: string, reason?: string): Promise<number> {
    return redis.publish(keys.cancelChannel, reason ? JSON.stringify({ runId, reason }) : runId);
  }

  /** Registers a starting attempt; aborts it at once if its cancel came first. */
  track(runId: string, attempt: Abortable): void {
    this.running.set(runId, attempt);
    const early = this.requested.get(runId);
    if (early && this.requested.delete(runId)) attempt.abort(new RunCancelledError(early.reason));
  }

  /** Unregisters a finished attempt (unless another attempt of the run took its place). */
  untrack(runId: string, attempt: Abortable): void {
    if (this.running.get(runId) === attempt) this.running.delete(runId);
  }

  private request(runId: string, reason?: string): void {
    const attempt = this.running.get(runId);
    if (attempt) {
      if (attempt.isAborted) return;
      this.log.info({ run: runId, reason }, 'cancel requested: aborting the run');
      attempt.abort(new RunCancelledError(reason));
      return;
    }
    const now = Date.now();
    for (const [id, r] of this.requested) if (now - r.at > REMEMBER_MS) this.requested.delete(id);
    this.requested.set(runId, { at: now, reason });
  }
}
