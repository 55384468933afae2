import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { PROJECT_ROOT } from '../../util/project-root.js';

// The page's files are served from the sources (they are not compiled).
const read = (name: string) => readFileSync(path.join(PROJECT_ROOT, 'core/api/dashboard', name), 'utf8');

/** Everything from this origin only: the page works with no external network. */
const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The single-page dashboard: GET / plus its script and stylesheet (no build step). */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const files = {
    html: read('index.html'),
    js: read('dashboard.js'),
    css: read('dashboard.css'),
  };
  const hide = { schema: { hide: true } };

  app.get('/', hide, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('cache-control', 'no-cache')
      .send(files.html),
  );
  app.get('/dashboard/dashboard.js', hide, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(files.js),
  );
  app.get('/dashboard/dashboard.css', hide, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(files.css),
  );
};
