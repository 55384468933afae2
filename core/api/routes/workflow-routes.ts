import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { NotFoundError, type EngineControl } from '../../control/engine-control.js';
import { checkRunInput, RunInputError } from '../../control/run-input-limits.js';
import type { AdminAuthHook } from '../auth/bearer-auth.js';
import { BadRequestError } from '../error-handler.js';
import { bearerSecurity, errorRef, JobParams, optionalBody, WorkflowParams } from '../schemas.js';

export interface WorkflowRoutesOptions {
  control: EngineControl;
  /** onRequest hook guarding the mutating routes. */
  requireAdmin: AdminAuthHook;
}

const WorkflowRef = Type.Ref('WorkflowStatus');
const JobRef = Type.Ref('JobStatus');

const TriggerBody = Type.Union(
  [
    Type.Object(
      {
        input: Type.Optional(
          Type.Unknown({ description: "The job's input (any JSON, at most 64 levels deep and 256 KiB), as if a predecessor returned it." }),
        ),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional; may be omitted entirely.' },
);

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, errorRef]));

/**
 * Workflows and jobs: list, inspect, trigger, pause and resume (one job, one
 * workflow, or everything). Mutating routes need the admin bearer token.
 */
export const workflowRoutes: FastifyPluginAsync<WorkflowRoutesOptions> = async (app, { control, requireAdmin }) => {
  async function jobStatus(wf: string, job: string) {
    const workflow = await control.getWorkflow(wf);
    const status = workflow.jobs.find((j) => j.job === job);
    if (!status) throw new NotFoundError(`workflow ${wf} has no job ${job}`);
    return status;
  }

  app.get(
    '/api/workflows',
    {
      schema: {
        operationId: 'listWorkflows',
        tags: ['workflows'],
        summary: 'Every loaded workflow with its jobs: trigger, state, next and last run, last status',
        response: { 200: Type.Array(WorkflowRef) },
      },
    },
    async () => control.listWorkflows(),
  );

  app.get<{ Params: WorkflowParams }>(
    '/api/workflows/:wf',
    {
      schema: {
        operationId: 'getWorkflow',
        tags: ['workflows'],
        summary: 'One workflow with its jobs',
        params: WorkflowParams,
        response: { 200: WorkflowRef, ...errors(400, 404) },
      },
    },
    async (req) => control.getWorkflow(req.params.wf),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: WorkflowParams }>(
      `/api/workflows/:wf/${action}`,
      {
        onRequest: requireAdmin,
        schema: {
          operationId: `${action}Workflow`,
          tags: ['workflows'],
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} every job of a workflow`,
          security: bearerSecurity,
          params: WorkflowParams,
          response: { 200: WorkflowRef, ...errors(400, 401, 404) },
        },
      },
      async (req) => {
        await control[action]({ workflow: req.params.wf });
        return control.getWorkflow(req.params.wf);
      },
    );

    app.post<{ Params: JobParams }>(
      `/api/workflows/:wf/jobs/:job/${action}`,
      {
        onRequest: requireAdmin,
        schema: {
          operationId: `${action}Job`,
          tags: ['jobs'],
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} one job`,
          security: bearerSecurity,
          params: JobParams,
          response: { 200: JobRef, ...errors(400, 401, 404) },
        },
      },
      async (req) => {
        await control[action]({ workflow: req.params.wf, job: req.params.job });
        return jobStatus(req.params.wf, req.params.job);
      },
    );

    app.post(
      `/api/${action}`,
      {
        onRequest: requireAdmin,
        schema: {
          operationId: `${action}All`,
          tags: ['workflows'],
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} everything`,
          security: bearerSecurity,
          response: { 200: Type.Array(WorkflowRef), ...errors(401) },
        },
      },
      async () => {
        await control[action]({});
        return control.listWorkflows();
      },
    );
  }

  app.post<{ Params: JobParams; Body: { input?: unknown } | null | undefined }>(
    '/api/workflows/:wf/jobs/:job/trigger',
    {
      onRequest: requireAdmin,
      schema: {
        operationId: 'triggerJob',
        tags: ['jobs'],
        summary: 'Run a job now (even when paused); returns the run id',
        security: bearerSecurity,
        params: JobParams,
        body: TriggerBody,
        ...optionalBody,
        response: {
          202: Type.Object({ runId: Type.String() }),
          ...errors(400, 401, 404, 413),
        },
      },
    },
    async (req, reply) => {
      const input = req.body?.input;
      try {
        checkRunInput(input);
      } catch (err) {
        if (err instanceof RunInputError) throw new BadRequestError(`/body/input${err.pointer}`, err.message, err.statusCode);
        throw err;
      }
      const { runId } = await control.trigger(req.params.wf, req.params.job, input);
      return reply.status(202).send({ runId });
    },
  );
};
