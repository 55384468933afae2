import { Type } from '@sinclair/typebox';
import { inject, injectable } from 'tsyringe';
import type { Redis } from 'ioredis';
import { Tokens } from '../../core/di/tokens.js';
import { NonRetryableError } from '../../core/plugin/errors.js';
import type { RunRecord } from '../../core/history/run-record.js';
import type { PluginContext, PluginManifest, RunCount, TideflowPlugin } from '../../core/plugin/plugin.js';

const RecordConfig = Type.Object(
  {
    /** Redis list each run appends to (tests read it, from any process). */
    key: Type.String({ minLength: 1 }),
    /** Fail the first N attempts of each run. */
    failTimes: Type.Integer({ minimum: 0, default: 0 }),
    nonRetryable: Type.Boolean({ default: false }),
    /** Work this long, ignoring the abort signal (to prove timeouts are enforced). */
    sleepMs: Type.Integer({ minimum: 0, default: 0 }),
    /** Record the run's AbortSignal firing (reason) in the list `<key>:aborted`. */
    recordAbort: Type.Boolean({ default: false }),
    output: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export interface RecordedRun {
  runId: string;
  workflow: string;
  job: string;
  attempt: number;
  trigger: string;
  causedBy?: string;
  input: unknown;
  at: number;
  pid: number;
}

/** RecordPlugin's cluster counter: its succeeded runs, by the pid of the process that ran each. */
export const RECORDED_RUNS = {
  name: 'tideflow_test_recorded_runs_total',
  help: 'Succeeded runs of the record test plugin, by workflow and the pid of the process that ran it.',
  labelNames: ['workflow', 'pid'],
} as const;

/** Test plugin: records every attempt in Redis, then fails or returns as configured; counts its successes cluster-wide. */
@injectable()
export class RecordPlugin implements TideflowPlugin {
  static readonly manifest = { name: 'record', version: '1.0.0', configSchema: RecordConfig, counters: [RECORDED_RUNS] } satisfies PluginManifest;

  constructor(@inject(Tokens.Redis) private readonly redis: Redis) {}

  async run(input: unknown, ctx: PluginContext<{ key: string; failTimes: number; nonRetryable: boolean; sleepMs: number; recordAbort: boolean; output?: unknown }>) {
    const rec: RecordedRun = {
      runId: ctx.runId, workflow: ctx.workflow, job: ctx.job, attempt: ctx.attempt, trigger: ctx.trigger,
      causedBy: ctx.causedBy, input, at: Date.now(), pid: process.pid,
    };
    await this.redis.rpush(ctx.config.key, JSON.stringify(rec));
    if (ctx.config.recordAbort) {
      ctx.signal.addEventListener('abort', () => {
        void this.redis.rpush(`${ctx.config.key}:aborted`, JSON.stringify({ runId: ctx.runId, reason: String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason) }));
      }, { once: true });
    }
    if (ctx.config.sleepMs) await new Promise((r) => setTimeout(r, ctx.config.sleepMs));
    if (ctx.attempt <= ctx.config.failTimes) {
      if (ctx.config.nonRetryable) throw new NonRetryableError(`configured to fail for good`);
      throw new Error(`configured failure ${ctx.attempt}/${ctx.config.failTimes}`);
    }
    return { job: ctx.job, runId: ctx.runId, value: ctx.config.output ?? ctx.attempt };
  }

  countRun(_output: unknown, run: RunRecord): RunCount[] {
    return [{ counter: RECORDED_RUNS.name, labels: { workflow: run.workflow, pid: String(process.pid) } }];
  }
}

/** Test plugin that does nothing: throughput and loader tests. */
@injectable()
export class NoopPlugin implements TideflowPlugin {
  static readonly manifest = {
    name: 'noop',
    version: '1.0.0',
    configSchema: Type.Object(
      { level: Type.Optional(Type.Union([Type.Literal('low'), Type.Literal('high')])), count: Type.Integer({ minimum: 1, maximum: 100, default: 10 }) },
      { additionalProperties: false },
    ),
  } satisfies PluginManifest;
  async run(input: unknown) {
    return input ?? null;
  }
}

export async function readRecorded(redis: Redis, key: string): Promise<RecordedRun[]> {
  return (await redis.lrange(key, 0, -1)).map((s) => JSON.parse(s) as RecordedRun);
}
