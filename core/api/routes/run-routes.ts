import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { NotFoundError, type EngineControl } from '../../control/engine-control.js';
import { BadRequestError } from '../error-handler.js';
import type { AdminAuthHook } from '../auth/bearer-auth.js';
import { bearerSecurity, errorRef, NameParam, RunStatusSchema } from '../schemas.js';
import { RUN_LOG_MAX_LINES, RunLogsSchema } from '../../history/run-logs.js';
import { RUN_IO_MAX_BYTES, RunAttemptsSchema, RunIoSchema } from '../../history/run-details.js';

export interface RunRoutesOptions {
  control: EngineControl;
  requireAdmin: AdminAuthHook;
}

export const RUNS_DEFAULT_LIMIT = 50;
export const RUNS_MAX_LIMIT = 500;

const RunsQuery = Type.Object(
  {
    workflow: Type.Optional(NameParam),
    job: Type.Optional(NameParam),
    status: Type.Optional(RunStatusSchema),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Runs whose latest attempt ran on this host' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: RUNS_MAX_LIMIT, default: RUNS_DEFAULT_LIMIT })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);
type RunsQuery = Static<typeof RunsQuery>;

const RunIdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 256, pattern: '^\\S+$' }) },
  { additionalProperties: false },
);
type RunIdParams = Static<typeof RunIdParams>;

/** Runs scanned by GET /api/hosts: the newest ones. */
export const HOSTS_SCAN_RUNS = RUNS_MAX_LIMIT;

const HostsSchema = Type.Object({
  hosts: Type.Array(
    Type.Object({
      name: Type.String({ description: 'TIDEFLOW_HOST_NAME (or the OS host name) of the process that ran them' }),
      runs: Type.Integer({ description: 'Runs of this host among the scanned ones' }),
      lastRunAt: Type.Number({ description: 'ms since epoch: queue time of its newest run' }),
    }),
    { description: 'Sorted by name' },
  ),
  scanned: Type.Integer({ description: `Runs scanned (the newest, at most ${HOSTS_SCAN_RUNS}); runs not yet taken by a worker have no host` }),
});

/** Run history: GET /api/runs (filters, pagination), GET /api/runs/:id, and the hosts of recent runs (GET /api/hosts). */
export const runRoutes: FastifyPluginAsync<RunRoutesOptions> = async (app, { control, requireAdmin }) => {
  app.get<{ Querystring: RunsQuery }>(
    '/api/runs',
    {
      schema: {
        operationId: 'listRuns',
        tags: ['runs'],
        summary: 'Runs, newest first; filter by workflow, job, status; paginate with limit/offset',
        querystring: RunsQuery,
        response: {
          200: Type.Object({
            runs: Type.Array(Type.Ref('RunRecord')),
            total: Type.Integer({ description: 'Runs matching the filters, all pages' }),
            limit: Type.Integer(),
            offset: Type.Integer(),
          }),
          400: errorRef,
        },
      },
    },
    async (req) => {
      // Optional for clients; ajv has filled in the defaults.
      const { workflow, job, status, host, limit = RUNS_DEFAULT_LIMIT, offset = 0 } = req.query;
      // ajv coerces "1e400" to Infinity and lets it through; refuse it here.
      if (!Number.isSafeInteger(limit)) throw new BadRequestError('/querystring/limit', 'must be an integer');
      if (!Number.isSafeInteger(offset)) throw new BadRequestError('/querystring/offset', 'must be an integer');
      const { runs, total } = await control.listRuns({ workflow, job, status, host, limit, offset });
      return { runs, total, limit, offset };
    },
  );

  app.get(
    '/api/hosts',
    {
      schema: {
        operationId: 'listHosts',
        tags: ['runs'],
        summary: `Hosts that ran the newest ${HOSTS_SCAN_RUNS} runs, with their count and newest run (the dashboard's host filter)`,
        response: { 200: HostsSchema },
      },
    },
    async () => {
      const { runs } = await control.listRuns({ limit: HOSTS_SCAN_RUNS, offset: 0 });
      const hosts = new Map<string, { name: string; runs: number; lastRunAt: number }>();
      for (const r of runs) {
        if (!r.host) continue;
        const h = hosts.get(r.host) ?? { name: r.host, runs: 0, lastRunAt: r.queuedAt };
        h.runs++;
        h.lastRunAt = Math.max(h.lastRunAt, r.queuedAt);
        hosts.set(r.host, h);
      }
      return { hosts: [...hosts.values()].sort((a, b) => a.name.localeCompare(b.name)), scanned: runs.length };
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id',
    {
      schema: {
        operationId: 'getRun',
        tags: ['runs'],
        summary: 'One run',
        params: RunIdParams,
        response: { 200: Type.Ref('RunRecord'), 400: errorRef, 404: errorRef },
      },
    },
    async (req) => {
      const run = await control.getRun(req.params.id);
      if (!run) throw new NotFoundError(`no run ${req.params.id}`);
      return run;
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id/logs',
    {
      schema: {
        operationId: 'getRunLogs',
        tags: ['runs'],
        summary: `What a run logged through ctx.log, every attempt, oldest first (the newest ${RUN_LOG_MAX_LINES} lines; each at most 2 KB)`,
        params: RunIdParams,
        response: { 200: RunLogsSchema, 400: errorRef, 404: errorRef },
      },
    },
    async (req) => {
      const logs = await control.getRunLogs(req.params.id);
      if (!logs) throw new NotFoundError(`no run ${req.params.id} (unknown, or older than the history keeps)`);
      return logs;
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id/io',
    {
      schema: {
        operationId: 'getRunIo',
        tags: ['runs'],
        summary: `A run's input and the output its plugin returned, each kept up to ${RUN_IO_MAX_BYTES / 1024} KiB of JSON (a larger one cut, with its size); recorded as attempts run`,
        params: RunIdParams,
        response: { 200: RunIoSchema, 400: errorRef, 404: errorRef },
      },
    },
    async (req) => {
      const details = await control.getRunDetails(req.params.id);
      if (!details) throw new NotFoundError(`no run ${req.params.id} (unknown, or older than the history keeps)`);
      return details.io;
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id/attempts',
    {
      schema: {
        operationId: 'getRunAttempts',
        tags: ['runs'],
        summary: 'Every attempt of a run, oldest first: when it started and ended, how, and where; interrupted ones (worker died) included',
        params: RunIdParams,
        response: { 200: RunAttemptsSchema, 400: errorRef, 404: errorRef },
      },
    },
    async (req) => {
      const details = await control.getRunDetails(req.params.id);
      if (!details) throw new NotFoundError(`no run ${req.params.id} (unknown, or older than the history keeps)`);
      return { runId: req.params.id, attempts: details.attempts };
    },
  );

  app.post<{ Params: RunIdParams }>(
    '/api/runs/:id/cancel',
    {
      onRequest: requireAdmin,
      schema: {
        operationId: 'cancelRun',
        tags: ['runs'],
        summary: 'Cancel a run: a queued one is removed, a running one gets its AbortSignal; its successors never start',
        security: bearerSecurity,
        params: RunIdParams,
        response: {
          202: Type.Object(
            { runId: Type.String(), status: Type.Union([Type.Literal('cancelled'), Type.Literal('cancelling')]) },
            { description: '`cancelled`: it was queued and is removed; `cancelling`: it is running and ends as `cancelled`' },
          ),
          400: errorRef,
          401: errorRef,
          404: errorRef,
          409: errorRef,
        },
      },
    },
    async (req, reply) => reply.status(202).send(await control.cancel(req.params.id)),
  );
};
