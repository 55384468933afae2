import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { EngineKeys } from '../redis/engine-keys.js';

/** Thrown into a run's AbortSignal when a person cancels it. */
export class RunCancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'RunCancelledError';
  }
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
  private readonly running = new Map<string, AbortController>();
  private readonly requested = new Map<string, number>();
  private subscriber?: Redis;

  constructor(
    private readonly connection: Redis,
    private readonly keys: EngineKeys,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const sub = (this.subscriber = this.connection.duplicate());
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, runId: string) => this.request(runId));
    await sub.subscribe(this.keys.cancelChannel);
  }

  async stop(): Promise<void> {
    this.subscriber?.disconnect();
  }

  /** Publishes a cancel request for a run to every runner. */
  static publish(redis: Redis, keys: EngineKeys, runId: string): Promise<number> {
    return redis.publish(keys.cancelChannel, runId);
  }

  /** Registers a starting attempt; aborts it at once if its cancel came first. Returns the unregister function. */
  track(runId: string, ac: AbortController): () => void {
    this.running.set(runId, ac);
    if (this.requested.delete(runId)) ac.abort(new RunCancelledError());
    return () => {
      if (this.running.get(runId) === ac) this.running.delete(runId);
    };
  }

  private request(runId: string): void {
    const ac = this.running.get(runId);
    if (ac) {
      this.log.info({ run: runId }, 'cancel requested: aborting the run');
      ac.abort(new RunCancelledError());
      return;
    }
    const now = Date.now();
    for (const [id, at] of this.requested) if (now - at > REMEMBER_MS) this.requested.delete(id);
    this.requested.set(runId, now);
  }
}
