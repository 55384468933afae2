import { Type, type Static } from '@sinclair/typebox';
import { RunRecordSchema, RunStatusSchema } from '../history/run-record.js';

/**
 * TypeBox schemas shared by the admin routes. They validate requests and
 * describe responses for the OpenAPI document. Response objects allow extra
 * properties so a field the engine adds later is passed through, not dropped.
 */

/**
 * Path segment naming a workflow or a job. A superset of the workflow file's
 * name patterns (so a valid name is never a 400); anything else is a 400, an
 * unknown but well-formed name is a 404.
 */
export const NameParam = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
});

export const WorkflowParams = Type.Object({ wf: NameParam }, { additionalProperties: false });
export type WorkflowParams = Static<typeof WorkflowParams>;

export const JobParams = Type.Object({ wf: NameParam, job: NameParam }, { additionalProperties: false });
export type JobParams = Static<typeof JobParams>;

/** A string enum (one `enum` keyword, so a bad value reads "must be equal to one of the allowed values"). */
export const StringEnum = <T extends string>(values: readonly T[], options: { description?: string; default?: NoInfer<T> } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

export { RunRecordSchema, RunStatusSchema };
const StateSchema = StringEnum(['active', 'paused'] as const);

export const JobStatusSchema = Type.Object(
  {
    workflow: Type.String(),
    job: Type.String(),
    plugin: Type.String(),
    trigger: Type.Object(
      {
        every: Type.Optional(Type.String()),
        cron: Type.Optional(Type.String()),
        timezone: Type.Optional(Type.String()),
        manual: Type.Optional(Type.Boolean()),
        chainedFrom: Type.Optional(Type.Array(Type.String())),
      },
      { additionalProperties: true },
    ),
    state: StateSchema,
    pausedBy: Type.Optional(StringEnum(['job', 'workflow', 'global'] as const)),
    nextRunAt: Type.Union([Type.Number(), Type.Null()], { description: 'ms since epoch; null when unscheduled or paused' }),
    lastRun: Type.Union([Type.Ref('RunRecord'), Type.Null()]),
    route: Type.String({ description: 'The route (queue) the job runs on; served by `tideflow worker --serve <route>`' }),
    routeWorkers: Type.Integer({ description: 'Live worker processes serving the route, on all hosts' }),
    waiting: Type.Optional(Type.String({ description: 'Why its runs wait: no live worker serves its route' })),
    overlap: Type.Optional(
      StringEnum(['skip', 'allow', 'queue', 'cancel-previous'] as const, {
        description: 'Scheduled jobs: what a fire does while a run of the job goes (skip it, run alongside, run after it, cancel it and run)',
      }),
    ),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, description: 'At most this many runs of the job at once, on every host' })),
    then: Type.Array(Type.String(), { description: 'Jobs of this workflow run after it succeeds (`then`), each given its output' }),
    onFailure: Type.Array(Type.String(), { description: 'Jobs of this workflow run once when a run of it has failed for good (`onFailure`)' }),
  },
  { $id: 'JobStatus', additionalProperties: true },
);

export const WorkflowStatusSchema = Type.Object(
  {
    name: Type.String(),
    file: Type.String(),
    state: StateSchema,
    concurrency: Type.Optional(Type.Integer({ minimum: 1, description: 'At most this many runs of all its jobs at once, on every host' })),
    jobs: Type.Array(Type.Ref('JobStatus')),
    error: Type.Optional(Type.String({ description: 'Last load error of the file (the previous definition is kept).' })),
  },
  { $id: 'WorkflowStatus', additionalProperties: true },
);

/** One failing input: where (a JSON pointer into the request) and why. */
export const FieldErrorSchema = Type.Object({ path: Type.String(), message: Type.String() });
export type FieldError = Static<typeof FieldErrorSchema>;

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    path: Type.Optional(Type.String({ description: 'Failing input, e.g. /querystring/limit or /body/input' })),
    errors: Type.Optional(
      Type.Array(FieldErrorSchema, {
        description: 'Every failing input, when the route checks them all (the first is `path`)',
      }),
    ),
  },
  { $id: 'Error', additionalProperties: true },
);

/** Shared schemas, added once with app.addSchema so $refs resolve and OpenAPI lists them. */
export const sharedSchemas = [RunRecordSchema, JobStatusSchema, WorkflowStatusSchema, ErrorSchema];

export const errorRef = Type.Ref('Error');
export const bearerSecurity = [{ bearerAuth: [] as string[] }];

/**
 * Route-schema marker: the request body may be omitted. @fastify/swagger
 * always writes `requestBody.required: true`; the OpenAPI document is
 * corrected for routes carrying this (see core/api/openapi/openapi-conventions.ts).
 */
export const OPTIONAL_BODY = 'x-tideflow-optional-body';
export const optionalBody = { [OPTIONAL_BODY]: true } as const;
