/** One server-sent event as a client sees it (comments are kept apart). */
export interface SseEvent {
  event: string;
  data: string;
  /** When it arrived (ms since epoch). */
  at: number;
}

type Waiter = { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void };

/**
 * A server-sent events client over Node's fetch (a real HTTP client reading
 * the stream as it comes): parses events and comment lines, and lets a test
 * wait for an event (no polling: resolved as the event is parsed).
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: Array<{ text: string; at: number }> = [];
  private waiters: Waiter[] = [];
  private readonly done: Promise<void>;
  private ended = false;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.done = this.read();
  }

  /** Opens the stream; the response may be a refusal (check `response.status`). */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    return new SseClient(response, controller);
  }

  get closedByServer(): boolean {
    return this.ended;
  }

  private async read(): Promise<void> {
    if (!this.response.ok || !this.response.body) return;
    const reader = this.response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          this.parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch {
      // Aborted by close(), or the connection was cut.
    }
    this.ended = true;
  }

  private parse(block: string): void {
    let event = 'message';
    const data: string[] = [];
    const at = Date.now();
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push({ text: line.slice(1).trim(), at });
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) return;
    const e: SseEvent = { event, data: data.join('\n'), at };
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(e)) return true;
      w.resolve(e);
      return false;
    });
  }

  /** The first event (already received or to come) that matches; rejects after `timeoutMs`. */
  waitFor(match: (e: SseEvent) => boolean, what: string, timeoutMs = 15_000): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no SSE event ${what} within ${timeoutMs} ms (got: ${this.events.map((x) => x.event).join(', ') || 'none'})`));
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Leaves: the server sees the connection close. */
  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}
