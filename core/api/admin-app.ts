import { readFileSync } from 'node:fs';
import path from 'node:path';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { EngineControl } from '../control/engine-control.js';
import type { ClusterMetricStore } from '../metrics/cluster-metric-store.js';
import type { Logger } from '../logging/logger.js';
import type { PluginManifest, TideflowPlugin } from '../plugin/plugin.js';
import { PROJECT_ROOT } from '../util/project-root.js';
import { createBearerAuth, type AdminAuthHook } from './auth/bearer-auth.js';
import { dashboardRoutes } from './dashboard/dashboard-routes.js';
import { adminErrorHandler, BadRequestError } from './error-handler.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { BULL_BOARD_PATH, bullBoardRoutes } from './queues/bull-board-routes.js';
import { documentRouteSecurity, finishOpenApiDocument } from './openapi/openapi-conventions.js';
import { eventRoutes, type EventRoutesOptions } from './routes/event-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { runRoutes } from './routes/run-routes.js';
import { webhookRoutes } from './routes/webhook-routes.js';
import { workflowRoutes } from './routes/workflow-routes.js';
import { sharedSchemas } from './schemas.js';

export interface AdminAppOptions {
  /** What the API reads and changes (the engine implements it over Redis). */
  control: EngineControl;
  /**
   * The cluster-wide counters and histograms (runs, durations, the plugins'
   * declared ones, recorded by every process that runs jobs), read at each
   * /metrics scrape; without it they have no series.
   */
  clusterMetrics?: ClusterMetricStore;
  /** Loaded plugins: each one's `routes` registered encapsulated, without prefix; its declared counters and `metrics` on /metrics; its OpenAPI tags and dashboard panels. */
  plugins?: HostedPlugin[];
  /** Bearer token for mutating routes (see resolveAdminToken). */
  adminToken: string;
  /** Where refused (4xx) and failed (5xx) requests are logged; nowhere when false or omitted. */
  logger?: Logger | false;
  /** Queue job counts by state, read at each /metrics scrape. */
  queueCounts?: () => Promise<Record<string, number>>;
  /** Whether the BullMQ queue is paused, read at each /metrics scrape. */
  queuePaused?: () => Promise<boolean>;
  /** Finish time (ms) of the last success per `<workflow>/<job>`, read at each /metrics scrape. */
  lastSuccesses?: () => Promise<Map<string, number>>;
  /** BullMQ queues shown by Bull Board at /queues (none: no Bull Board). */
  queues?: Queue[];
  /** The engine's environment: where job webhooks' secrets are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Registry for /metrics (e.g. the DI one); a private new one by default. */
  metricsRegistry?: Registry;
  /** The cluster's live events: GET /api/events and the dashboard's live updates (without it: neither, the dashboard polls). */
  events?: EventRoutesOptions;
}

/** What the admin app needs of a plugin. */
export interface HostedPlugin {
  manifest: Pick<PluginManifest, 'name' | 'apiTags' | 'dashboardPanels' | 'counters' | 'histograms'>;
  plugin: Pick<TideflowPlugin, 'routes' | 'metrics'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook requiring the admin bearer token; plugin routes may use it on mutating routes. */
    requireAdmin: AdminAuthHook;
    /** The metrics behind /metrics (its registry accepts more metrics). */
    engineMetrics: EngineMetrics;
  }
}

function packageInfo(): { version: string; license: string } {
  try {
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: string; license?: string };
    return { version: pkg.version ?? '0.0.0', license: pkg.license ?? 'MIT' };
  } catch {
    return { version: '0.0.0', license: 'MIT' };
  }
}

/**
 * The admin HTTP app: OpenAPI (/docs, /docs/json), health, workflows, jobs,
 * runs, /metrics, the dashboard at /, and every plugin's routes. Returned not
 * yet listening: call `app.listen({ host, port })`, or `app.inject()` in tests.
 */
export async function buildAdminApp(opts: AdminAppOptions): Promise<FastifyInstance> {
  if (!opts.adminToken) throw new Error('buildAdminApp: adminToken is required (see resolveAdminToken)');

  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // Only refused (4xx) and failed (5xx) requests are logged, by the error handler; no line per ordinary request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Long path segments reach the schema (400 with the path) instead of a bare 414.
    routerOptions: { maxParamLength: 1000 },
    // Unknown body/query properties are a 400 (a typo must not be dropped silently).
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance;

  try {
    app.setErrorHandler(adminErrorHandler);
    // JSON as usual (prototype-poisoning safe), but an empty body with a JSON
    // content type means "no body" (curl -H 'content-type: application/json' -X POST).
    const jsonParser = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      if (typeof body === 'string' && body.trim() === '') done(null, undefined);
      else jsonParser(req, String(body), done);
    });
    for (const schema of sharedSchemas) app.addSchema(schema);

    const requireAdmin = createBearerAuth(opts.adminToken);
    const metrics = new EngineMetrics({
      clusterMetrics: opts.clusterMetrics,
      queueCounts: opts.queueCounts,
      queuePaused: opts.queuePaused,
      control: opts.control,
      lastSuccesses: opts.lastSuccesses,
      plugins: opts.plugins,
      registry: opts.metricsRegistry,
      log: opts.logger || undefined,
    });
    app.decorate('requireAdmin', requireAdmin);
    app.decorate('engineMetrics', metrics);
    // Before any route: every route (plugins' too) documents the security it enforces.
    app.addHook('onRoute', documentRouteSecurity(requireAdmin));
    // A mutating API route that declares no query parameters refuses any (400
    // naming it): `POST .../trigger?input=...` must not run with the
    // parameter silently dropped.
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const mutating = methods.some((m) => m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS');
      // Bull Board's own API takes bodies and queries it does not declare: it is not ours to police.
      const ours = !route.url.startsWith(BULL_BOARD_PATH);
      if (!mutating || !ours) return;
      const schema = (route.schema ??= {});
      schema.querystring ??= { type: 'object', properties: {}, additionalProperties: false };
      // Same for a body on a route that takes none (an empty JSON object is tolerated: some clients always send one).
      if (!schema.body) {
        const refuseBody = async (req: FastifyRequest) => {
          const b: unknown = req.body;
          const empty = b === undefined || b === null || (typeof b === 'object' && !Array.isArray(b) && Object.keys(b).length === 0);
          if (!empty) throw new BadRequestError('/body', 'must be empty: this route takes no body');
        };
        const hooks = route.preValidation;
        route.preValidation = hooks === undefined ? refuseBody : Array.isArray(hooks) ? [...hooks, refuseBody] : [hooks, refuseBody];
      }
    });

    const pkg = packageInfo();
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'tideflow admin API',
          version: pkg.version,
          license: { name: pkg.license, url: `https://spdx.org/licenses/${pkg.license}.html` },
          description:
            'Trigger, pause and resume workflow jobs; read runs, health and metrics. ' +
            'Mutating routes need `Authorization: Bearer <TIDEFLOW_ADMIN_TOKEN>`.',
        },
        // Relative: the API is wherever this document was fetched from.
        servers: [{ url: '/', description: 'this engine' }],
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
        tags: [
          { name: 'health', description: 'Engine health' },
          { name: 'workflows', description: 'Workflows; pause/resume everything' },
          { name: 'jobs', description: 'Trigger, pause, resume one job' },
          { name: 'runs', description: 'Run history' },
          { name: 'metrics', description: 'Prometheus' },
          ...(opts.plugins ?? []).flatMap((p) => p.manifest.apiTags ?? []),
        ],
      },
      transformObject: (documentObject) => ('openapiObject' in documentObject ? finishOpenApiDocument(documentObject.openapiObject) : documentObject.swaggerObject),
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: false } });

    const { control } = opts;
    await app.register(healthRoutes, { control });
    await app.register(workflowRoutes, { control, requireAdmin });
    await app.register(runRoutes, { control, requireAdmin });
    await app.register(webhookRoutes, { control, env: opts.env ?? process.env });
    await app.register(metricsRoute, { metrics });
    if (opts.events) await app.register(eventRoutes, opts.events);
    await app.register(dashboardRoutes, { eventsUrl: opts.events ? '/api/events' : undefined, panels: (opts.plugins ?? []).flatMap((p) => (p.manifest.dashboardPanels ?? []).map((panel) => ({ plugin: p.manifest.name, ...panel }))) });
    if (opts.queues?.length) await app.register(bullBoardRoutes, { queues: opts.queues, adminToken: opts.adminToken, requireAdmin });

    for (const { manifest, plugin } of opts.plugins ?? []) {
      const routes = plugin.routes;
      if (!routes) continue;
      // Encapsulated child context, no prefix; a failure (e.g. a host decorator it declares is missing) names the plugin.
      await app.register(async (child) => {
        try {
          await child.register(routes);
          await child.after();
        } catch (err) {
          throw new Error(`routes of plugin ${manifest.name} failed to register: ${(err as Error).message}`, { cause: err });
        }
      });
    }
  } catch (err) {
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}
