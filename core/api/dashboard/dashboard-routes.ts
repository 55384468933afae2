import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { DashboardPanel } from '../../plugin/plugin.js';
import { PROJECT_ROOT } from '../../util/project-root.js';

// The page's files are served from the sources (they are not compiled).
const DASHBOARD_DIR = path.join(PROJECT_ROOT, 'core/api/dashboard');
const read = (name: string) => readFileSync(path.join(DASHBOARD_DIR, name), 'utf8');

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

export interface DashboardOptions {
  /** The plugins' panels (PluginManifest.dashboardPanels), in page order. */
  panels?: Array<DashboardPanel & { plugin: string }>;
  /** Where the page hears live events (GET /api/events); without it the page polls. */
  eventsUrl?: string;
}

const PANEL_ID = /^[a-z0-9][a-z0-9-]*$/;

/**
 * The single-page dashboard: GET / plus its script and stylesheet (no build
 * step), and the plugins' panel modules: listed at /dashboard/panels.json,
 * served at /dashboard/panels/<plugin>/<id>.js.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const files = {
    // The page learns from its <body> whether live events are served (no request that could fail).
    html: opts.eventsUrl ? read('index.html').replace('<body>', `<body data-events="${opts.eventsUrl}">`) : read('index.html'),
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
  // The page's modules and stylesheets: every .js and .css of this folder (dashboard.js imports the others).
  for (const name of readdirSync(DASHBOARD_DIR).filter((f) => /^[a-z0-9-]+\.(js|css)$/.test(f))) {
    const body = name === 'dashboard.js' ? files.js : name === 'dashboard.css' ? files.css : read(name);
    const type = name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8';
    app.get(`/dashboard/${name}`, hide, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }

  const panels = (opts.panels ?? []).map((p) => {
    if (!PANEL_ID.test(p.plugin) || !PANEL_ID.test(p.id)) throw new Error(`dashboard panel "${p.plugin}/${p.id}": plugin and panel ids must match ${PANEL_ID}`);
    // Read once at start: a missing script fails the start, not the page.
    return { plugin: p.plugin, id: p.id, url: `/dashboard/panels/${p.plugin}/${p.id}.js`, js: readFileSync(p.script, 'utf8') };
  });
  app.get('/dashboard/panels.json', hide, async (_req, reply) =>
    reply.header('cache-control', 'no-cache').send({ panels: panels.map(({ plugin, id, url }) => ({ plugin, id, url })) }),
  );
  for (const panel of panels) {
    app.get(panel.url, hide, async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(panel.js));
  }
};
