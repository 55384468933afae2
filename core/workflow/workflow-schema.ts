import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from './duration.js';

/**
 * The one source of truth for the workflow file format. The JSON Schema in
 * workflows/workflow.schema.json is generated from this (npm run schema) and a
 * test keeps the two in sync.
 */

export const WORKFLOW_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
export const JOB_NAME_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$';
/** A route names the BullMQ queue a job runs on, served by `tideflow worker --serve <route>`. */
export const ROUTE_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';

const RunsOn = (description: string) => Type.String({ pattern: ROUTE_PATTERN, description });

/** Highest concurrency limit a file may give: as many runs as TIDEFLOW_CONCURRENCY allows one process. */
export const MAX_CONCURRENCY_LIMIT = 1000;

const Concurrency = (description: string) => Type.Integer({ minimum: 1, maximum: MAX_CONCURRENCY_LIMIT, description });

const Duration = (description: string) =>
  Type.String({ pattern: DURATION_PATTERN, description });

export const RetrySchema = Type.Object(
  {
    attempts: Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'Total attempts, the first included.' }),
    backoff: Type.Union([Type.Literal('fixed'), Type.Literal('exponential')], {
      default: 'exponential',
      description: 'Delay between attempts: constant, or doubling each time.',
    }),
    delay: Type.String({ pattern: DURATION_PATTERN, default: '1s', description: 'Base delay between attempts, e.g. "1s".' }),
  },
  { additionalProperties: false, description: 'Retry policy of each run of this job.' },
);

/** Bodies a webhook may carry at most: the admin app's own body limit. */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export const WebhookSchema = Type.Object(
  {
    secretEnv: Type.String({
      pattern: '^[A-Z_][A-Z0-9_]{0,127}$',
      description: "Environment variable of the engine holding this webhook's secret (the secret never goes in the file).",
    }),
    auth: Type.Union([Type.Literal('hmac-sha256'), Type.Literal('bearer')], {
      default: 'hmac-sha256',
      description:
        'hmac-sha256: header X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the secret> (as GitHub signs); bearer: Authorization: Bearer <secret>.',
    }),
    maxBodyBytes: Type.Integer({ minimum: 2, maximum: MAX_WEBHOOK_BODY_BYTES, default: 65536, description: 'Larger bodies are refused (413).' }),
    perMinute: Type.Integer({ minimum: 1, maximum: 6000, default: 60, description: 'Calls accepted per minute; more are refused (429).' }),
  },
  { additionalProperties: false, description: 'POST /hooks/<workflow>/<job> triggers this job; its JSON body becomes the run input.' },
);
export type WebhookSettings = Static<typeof WebhookSchema>;

export const JobSchema = Type.Object(
  {
    plugin: Type.String({ minLength: 1, description: 'Name of the plugin this job runs (spawner, analyzer, logger, charts, ...).' }),
    description: Type.Optional(Type.String()),
    every: Type.Optional(Duration('Fire at this interval, e.g. "10s", "1m", "1h".')),
    cron: Type.Optional(Type.String({ format: 'cron', description: 'Fire on this cron expression (5 or 6 fields), e.g. "*/5 * * * *".' })),
    timezone: Type.Optional(Type.String({ format: 'timezone', description: 'IANA time zone of `cron`, e.g. "Europe/Paris". Default UTC.' })),
    manual: Type.Optional(Type.Boolean({ description: 'Only a person triggers this job (API, CLI, dashboard).' })),
    webhook: Type.Optional(WebhookSchema),
    overlap: Type.Optional(
      Type.Union([Type.Literal('skip'), Type.Literal('allow'), Type.Literal('queue'), Type.Literal('cancel-previous')], {
        description:
          'A scheduled fire that comes while a run of this job is still going: "skip" (the default) records a skipped fire and runs nothing; "allow" runs it alongside; "queue" runs it after the running one (at most one fire waits, later ones are recorded skipped); "cancel-previous" cancels the running one and runs once it has ended.',
      }),
    ),
    concurrency: Type.Optional(Concurrency('At most this many runs of this job at once, whatever started them, across every worker process; a run over the limit waits (queued) until one ends.')),
    runsOn: Type.Optional(RunsOn("Route this job runs on (overrides the workflow's runsOn); served by `tideflow worker --serve <route>`.")),
    config: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: "The plugin's configuration, checked against the plugin's own schema." }),
    ),
    retry: Type.Optional(RetrySchema),
    timeout: Type.Optional(Duration('An attempt still running after this fails (and may be retried).')),
    then: Type.Optional(
      Type.Array(Type.String({ pattern: JOB_NAME_PATTERN }), {
        uniqueItems: true,
        description: "Jobs to run after this one succeeds, each with this job's output as input.",
      }),
    ),
    onFailure: Type.Optional(
      Type.Array(Type.String({ pattern: JOB_NAME_PATTERN }), {
        uniqueItems: true,
        description:
          'Jobs to run once when a run of this job has failed for good (no attempt left, or not retryable), each with the failed run as input: { workflow, job, runId, trigger, attempts, error, input }. A run started by a failure never starts failure handlers.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const WorkflowFileSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    name: Type.String({ pattern: WORKFLOW_NAME_PATTERN, description: 'Unique workflow name: lower-case letters, digits, - and _.' }),
    description: Type.Optional(Type.String()),
    runsOn: Type.Optional(
      RunsOn('Route every job of this workflow runs on, e.g. the host whose Docker engine it drives; default "default" (the engine\'s own workers).'),
    ),
    concurrency: Type.Optional(Concurrency('At most this many runs of all the jobs of this workflow at once, across every worker process; a run over the limit waits (queued) until one ends.')),
    jobs: Type.Record(Type.String({ pattern: JOB_NAME_PATTERN }), JobSchema, {
      minProperties: 1,
      additionalProperties: false,
      description: 'The jobs of this workflow by name.',
    }),
  },
  {
    title: 'tideflow workflow',
    additionalProperties: false,
  },
);

export type WorkflowFile = Static<typeof WorkflowFileSchema>;
export type JobDefinition = Static<typeof JobSchema>;

/** The JSON Schema document written to workflows/workflow.schema.json. */
export function workflowJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...JSON.parse(JSON.stringify(WorkflowFileSchema)),
  };
}
