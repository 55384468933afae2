import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';

/**
 * One message for the live clients: `run` (data: `{"type":"run","run":<record>}`),
 * `workflows` (data: a WorkflowChange), or `resync` (the subscription was
 * lost and is back: events may have been missed, read the state again).
 */
export interface FeedMessage {
  event: 'run' | 'workflows' | 'resync';
  /** JSON, exactly as published (parsed once per process only to learn its type). */
  data: string;
}

export type FeedListener = (message: FeedMessage) => void;

/** What GET /api/events needs: cluster events, fanned out to the listeners of this process. */
export interface EventFeed {
  /** Resolves once subscribed (everything published after that reaches `listener`); returns the function that stops it. */
  listen(listener: FeedListener): Promise<() => void>;
  close(): Promise<void>;
}

/**
 * The events channel (EngineKeys.eventsChannel) heard by one API process:
 * one subscriber connection, fanned out to every live client. It subscribes
 * only while at least one client listens, so an engine nobody watches does
 * not read (and parse) every run record saved in the cluster.
 */
export class ClusterEventHub implements EventFeed {
  private sub?: Redis;
  private readonly listeners = new Set<FeedListener>();
  private subscribed?: Promise<unknown>;
  private wasReady = false;
  private closed = false;

  constructor(
    /** Duplicated for the subscriber (a subscribed connection can do nothing else). */
    private readonly connection: Redis,
    private readonly keys: EngineKeys,
    /** Told about the subscriber connection once made (e.g. the engine's Redis outage log). */
    private readonly watch?: (subscriber: Redis) => void,
  ) {}

  /** Listeners now (one per live client of this process). */
  get size(): number {
    return this.listeners.size;
  }

  async listen(listener: FeedListener): Promise<() => void> {
    if (this.closed) throw new Error('event hub closed');
    this.listeners.add(listener);
    if (this.listeners.size === 1 || !this.subscribed) this.subscribed = this.subscriber().subscribe(this.keys.eventsChannel);
    try {
      await this.subscribed;
    } catch (err) {
      this.stop(listener);
      throw err;
    }
    return () => this.stop(listener);
  }

  private stop(listener: FeedListener): void {
    if (!this.listeners.delete(listener) || this.listeners.size > 0 || !this.sub) return;
    // The last one left: stop hearing the cluster. Commands on one connection run in order, so a later SUBSCRIBE wins.
    this.subscribed = undefined;
    this.sub.unsubscribe(this.keys.eventsChannel).catch(() => undefined);
  }

  private subscriber(): Redis {
    if (this.sub) return this.sub;
    const sub = (this.sub = this.connection.duplicate());
    sub.on('error', () => undefined);
    this.watch?.(sub);
    // ioredis re-subscribes by itself after a reconnect; what was published meanwhile is lost, so the clients re-read.
    sub.on('ready', () => {
      if (this.wasReady) this.emit({ event: 'resync', data: JSON.stringify({ type: 'resync', at: Date.now() }) });
      this.wasReady = true;
    });
    sub.on('message', (_channel: string, data: string) => {
      // The history's own messages (their fixed prefix, no parse): the records of one batch, a line each (JSON has no raw newline).
      if (data.startsWith(RUN_MESSAGE)) {
        for (const line of data.split('\n')) if (line.startsWith(RUN_MESSAGE)) this.emit({ event: 'run', data: line });
        return;
      }
      if (isWorkflowChange(data)) this.emit({ event: 'workflows', data });
    });
    return sub;
  }

  private emit(message: FeedMessage): void {
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch {
        // One client's failure is its own (it is dropped by its route); the others still hear.
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.sub?.disconnect();
  }
}

/** How the history's run messages start (see SAVE_RUN_LUA). */
const RUN_MESSAGE = '{"type":"run",';

/** Whether a message is a workflow/pause change (the only other kind relayed). */
function isWorkflowChange(data: string): boolean {
  try {
    return (JSON.parse(data) as { type?: unknown }).type === 'workflows';
  } catch {
    return false;
  }
}
