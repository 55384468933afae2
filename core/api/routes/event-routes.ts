import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { EventFeed, FeedMessage } from '../../control/cluster-event-hub.js';
import { errorRef } from '../schemas.js';

export interface EventRoutesOptions {
  /** The cluster's events, heard once by this process (ClusterEventHub). */
  feed: EventFeed;
  /** Streams open at once in this process; one more is refused with 503 (each holds a socket). Default 100. */
  maxClients?: number;
  /** A comment line this often keeps proxies from closing an idle stream. Default 15 s. */
  heartbeatMs?: number;
  /** Bytes a client may leave unread; past that it is dropped (it reconnects and re-reads), never buffered without bound. Default 1 MiB. */
  maxBufferedBytes?: number;
}

export const EVENTS_DEFAULTS = { maxClients: 100, heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024 } as const;

/** How long a browser waits before reconnecting a dropped stream (the SSE `retry` field). */
const RETRY_MS = 3000;

const STREAM_DESCRIPTION = [
  'A `text/event-stream` (server-sent events) of what changes in the whole cluster, pushed as it happens:',
  '',
  '- `event: run`, `data: {"type":"run","run":<RunRecord>}`: a run record was saved (queued, running, retrying, succeeded, failed, skipped, cancelled), by whichever process saved it (the engine, a `tideflow worker` on any host, the CLI).',
  '- `event: workflows`, `data: {"type":"workflows","change":"pause"|"resume"|"reload","workflow"?,"job"?,"at"}`: read `GET /api/workflows` again.',
  '- `event: ready` once the stream is subscribed; `event: resync` when this process lost its Redis subscription and got it back (events may have been missed: read the state again).',
  '- a comment line (`: heartbeat`) every 15 s.',
  '',
  'No token: it carries what `GET /api/runs` and `GET /api/workflows` show, and browsers cannot send headers on an EventSource.',
  'No replay: `Last-Event-ID` is not supported; read `GET /api/runs` after (re)connecting. A client that leaves 1 MiB unread is dropped.',
  'At most 100 streams per API process by default (503 with `Retry-After` beyond).',
].join('\n');

/** One SSE frame; data with line breaks becomes several `data:` lines, as the format requires. */
function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data.includes('\n') ? data.split(/\r?\n/).join('\ndata: ') : data}\n\n`;
}

/**
 * GET /api/events: server-sent events of run state changes and workflow
 * changes from every process of the cluster (see STREAM_DESCRIPTION). Plain
 * `reply.hijack()` and raw writes: the stream needs a bound on what a slow
 * client may leave unread, which a write-and-await-drain library does not give.
 */
export const eventRoutes: FastifyPluginAsync<EventRoutesOptions> = async (app, opts) => {
  const maxClients = opts.maxClients ?? EVENTS_DEFAULTS.maxClients;
  const heartbeatMs = opts.heartbeatMs ?? EVENTS_DEFAULTS.heartbeatMs;
  const maxBuffered = opts.maxBufferedBytes ?? EVENTS_DEFAULTS.maxBufferedBytes;
  const clients = new Set<ServerResponse>();
  let heartbeat: NodeJS.Timeout | undefined;

  /** Writes to one client; drops it when it has too much unread. */
  const send = (res: ServerResponse, text: string): void => {
    if (res.destroyed || res.writableEnded) return;
    res.write(text);
    if (res.writableLength > maxBuffered) {
      app.log.warn({ unsent: res.writableLength }, 'events client dropped: it did not read what was sent');
      res.destroy();
    }
  };

  const startHeartbeat = () => {
    heartbeat ??= setInterval(() => {
      for (const res of clients) send(res, ': heartbeat\n\n');
    }, heartbeatMs);
    heartbeat.unref();
  };

  // Before the server closes: an open stream would keep app.close() waiting for ever.
  app.addHook('preClose', async () => {
    clearInterval(heartbeat);
    // Ended, then the socket closed too: a kept-alive idle socket would hold the server's close as well.
    for (const res of clients) res.end(() => res.socket?.destroy());
    clients.clear();
  });

  app.get(
    '/api/events',
    {
      schema: {
        operationId: 'streamEvents',
        tags: ['runs'],
        summary: 'Live run and workflow changes of the whole cluster (server-sent events)',
        description: STREAM_DESCRIPTION,
        response: {
          200: {
            description: 'The event stream; it stays open until the client leaves',
            content: { 'text/event-stream': { schema: Type.String({ description: 'Server-sent events (see the operation description)' }) } },
          },
          // Too many streams open in this process: try again after `Retry-After` seconds.
          503: errorRef,
        },
      },
    },
    async (req, reply) => {
      if (clients.size >= maxClients) {
        return reply
          .status(503)
          .header('retry-after', String(Math.ceil(RETRY_MS / 1000) + 2))
          .send({ statusCode: 503, error: 'Service Unavailable', message: `${clients.size} event streams are open in this process (at most ${maxClients}): try again later` });
      }
      reply.hijack();
      const res = reply.raw;
      clients.add(res);
      startHeartbeat();
      let stop: (() => void) | undefined;
      const cleanup = () => {
        clients.delete(res);
        stop?.();
        stop = undefined;
        if (!clients.size) {
          clearInterval(heartbeat);
          heartbeat = undefined;
        }
      };
      res.on('close', cleanup);
      res.on('error', cleanup);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx would otherwise hold events back in its buffer.
        'x-accel-buffering': 'no',
      });
      send(res, `retry: ${RETRY_MS}\n: tideflow events\n\n`);
      try {
        const listening = await opts.feed.listen((m: FeedMessage) => send(res, frame(m.event, m.data)));
        if (!clients.has(res)) listening(); // the client left while this subscribed
        else {
          stop = listening;
          send(res, frame('ready', JSON.stringify({ type: 'ready', heartbeatMs })));
        }
      } catch (err) {
        req.log.warn({ err }, 'events stream: cannot subscribe to the events channel');
        res.destroy();
      }
      return reply;
    },
  );
};
