import { Type, type Static } from '@sinclair/typebox';

/** A string enum as one `enum` keyword (a bad value reads "must be equal to one of the allowed values"). */
const StringEnum = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

const Millis = (description: string) => Type.Number({ description });

/** What started a run: its schedule, a person (API, CLI, dashboard), a predecessor's `then`, a call of its webhook, or a failed run it handles (`onFailure`). */
export const RunTriggerSchema = StringEnum(['schedule', 'manual', 'chain', 'webhook', 'failure'] as const);
export type RunTrigger = Static<typeof RunTriggerSchema>;

/** `queued`: not started yet; when it waits for a concurrency slot or for the previous run of its job, `waiting` says so.
 * `cancelled`: stopped by a person (POST /api/runs/:id/cancel, `tideflow cancel`) or replaced by a newer fire (overlap "cancel-previous"); its successors never start.
 * `skipped`: a scheduled fire the overlap policy did not run ("skip": a run was still going; "queue": a fire already waited; "cancel-previous": a newer fire replaced it): nothing ran. */
export const RunStatusSchema = StringEnum(['queued', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled'] as const);
export type RunStatus = Static<typeof RunStatusSchema>;

/** The statuses a run ends in: nothing happens to it afterwards (not cancelled, not counted again). */
export const ENDED_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

export const InterruptedAttemptSchema = Type.Object({
  /** The attempt number the lost worker was running. */
  attempt: Type.Integer(),
  /** When the lost attempt started, if it lived long enough to be recorded. */
  startedAt: Type.Optional(Millis('ms since epoch')),
  /** When a later attempt found it lost. */
  detectedAt: Millis('ms since epoch'),
  reason: Type.String(),
});
export type InterruptedAttempt = Static<typeof InterruptedAttemptSchema>;

/** Why a queued run has not started: a concurrency limit (its job's or its workflow's) or the run before it (overlap "queue" / "cancel-previous"). */
export const RunWaitingSchema = Type.Object(
  {
    for: StringEnum(['concurrency', 'previous-run'] as const),
    since: Millis('ms since epoch: when it first waited'),
    reason: Type.String(),
  },
  { description: 'Set while a queued run (or a retrying one, between attempts) waits: for a concurrency slot (its job\'s or its workflow\'s "concurrency") or for the previous run of its job (overlap "queue" / "cancel-previous"). The record of a started run has none.' },
);
export type RunWaiting = Static<typeof RunWaitingSchema>;

/**
 * One run of one job: what the run history stores (one JSON string per run)
 * and the API returns. Extra properties are passed through, so a field a
 * newer engine adds is not dropped by an older API process.
 */
export const RunRecordSchema = Type.Object(
  {
    id: Type.String(),
    workflow: Type.String(),
    job: Type.String(),
    plugin: Type.String(),
    trigger: RunTriggerSchema,
    status: RunStatusSchema,
    attempts: Type.Integer(),
    queuedAt: Millis('ms since epoch'),
    startedAt: Type.Optional(Millis('ms since epoch')),
    finishedAt: Type.Optional(Millis('ms since epoch')),
    durationMs: Type.Optional(Type.Number()),
    error: Type.Optional(Type.String()),
    causedBy: Type.Optional(Type.String({ description: 'Run id of the predecessor when reached through `then`.' })),
    interrupted: Type.Optional(
      Type.Array(InterruptedAttemptSchema, {
        description: 'Attempts whose worker died mid-run; BullMQ re-queued the run and a later attempt took over.',
      }),
    ),
    host: Type.Optional(Type.String({ description: 'Host whose worker ran the latest attempt' })),
    waiting: Type.Optional(RunWaitingSchema),
  },
  { $id: 'RunRecord', additionalProperties: true },
);
export type RunRecord = Static<typeof RunRecordSchema>;

export interface RunQuery {
  workflow?: string;
  job?: string;
  status?: RunStatus;
  host?: string;
  limit?: number;
  offset?: number;
}
