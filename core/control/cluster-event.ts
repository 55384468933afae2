import { Type, type Static } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import type { RunRecord } from '../history/run-record.js';
import type { EngineKeys } from '../redis/engine-keys.js';

/**
 * What goes over the cluster's events channel (EngineKeys.eventsChannel) and
 * out of GET /api/events. Run events are published by the history's save
 * script itself (core/history/run-history.ts), so every process that saves a
 * record (the engine, `tideflow worker`s on any host, the CLI) is heard
 * without a round trip of its own.
 */

export const WorkflowChangeSchema = Type.Object(
  {
    type: Type.Literal('workflows'),
    change: Type.Union([Type.Literal('pause'), Type.Literal('resume'), Type.Literal('reload')], {
      description: 'pause/resume: a job, a workflow or everything (no workflow named); reload: the workflow files were (re)loaded',
    }),
    workflow: Type.Optional(Type.String()),
    job: Type.Optional(Type.String()),
    at: Type.Number({ description: 'ms since epoch' }),
  },
  { description: 'Workflows or their pause state changed: read GET /api/workflows again.' },
);
export type WorkflowChange = Static<typeof WorkflowChangeSchema>;

/** A saved run record (any status change, from any process). */
export interface RunChange {
  type: 'run';
  run: RunRecord;
}

export type ClusterEvent = RunChange | WorkflowChange;

/** Publishes a workflow/pause change to every API process (one PUBLISH). */
export function publishWorkflowChange(redis: Redis, keys: EngineKeys, change: Omit<WorkflowChange, 'type' | 'at'>): Promise<number> {
  const event: WorkflowChange = { type: 'workflows', ...change, at: Date.now() };
  return redis.publish(keys.eventsChannel, JSON.stringify(event));
}
