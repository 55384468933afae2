import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { bearerToken, tokenMatches } from '../auth/bearer-auth.js';

export const BULL_BOARD_PATH = '/queues';

export interface BullBoardRoutesOptions {
  /** The queues to show (tideflow's run queue). */
  queues: Queue[];
  /** The admin bearer token: actions need it, reading does not. */
  adminToken: string;
  /** The admin app's onRequest hook for mutating routes. */
  requireAdmin: onRequestHookHandler;
}

/** Requests that only read; every other method is a Bull Board action (retry, clean, promote, pause...). */
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * The one stylesheet Bull Board's page loads from outside (Google Fonts).
 * tideflow serves nothing from a CDN: the page falls back to local fonts.
 */
const FOREIGN_FONT_LINK = /<link[^>]+href="https?:\/\/fonts\.googleapis\.com[^"]*"[^>]*>\s*/g;

/** Everything from this origin only (inline styles are Bull Board's own loading screen). */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; script-src 'self'; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

function isAdmin(req: FastifyRequest, adminToken: string): boolean {
  const presented = bearerToken(req.headers.authorization);
  return presented !== undefined && tokenMatches(presented, adminToken);
}

interface QueuesListing {
  queues?: Array<{ readOnlyMode?: boolean; allowRetries?: boolean }>;
}

/**
 * Bull Board (BullMQ's own UI) at /queues, as an encapsulated plugin:
 * anyone who reaches the API may look (like GET /api/...), actions need
 * `Authorization: Bearer <admin token>` (401 otherwise, before Bull Board
 * sees the request). Without the token the queue listing says
 * `readOnlyMode`, so the page shows no action buttons.
 */
export const bullBoardRoutes: FastifyPluginAsync<BullBoardRoutesOptions> = async (app, opts) => {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false, description: 'tideflow runs: one BullMQ job per run' })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'tideflow queues' } },
  });

  app.addHook('onRequest', function (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    if (READ_METHODS.has(req.method)) return done();
    return opts.requireAdmin.call(this, req, reply, done);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string') return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) return payload.replace(FOREIGN_FONT_LINK, '');
    // The listing of queues tells the page which actions to offer.
    if (req.routeOptions.url === `${BULL_BOARD_PATH}/api/queues` && !isAdmin(req, opts.adminToken) && type.startsWith('application/json')) {
      const listing = JSON.parse(payload) as QueuesListing;
      for (const q of listing.queues ?? []) {
        q.readOnlyMode = true;
        q.allowRetries = false;
      }
      return JSON.stringify(listing);
    }
    return payload;
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
};
