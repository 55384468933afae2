import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { jobKey } from '../queues/run-ids.js';

const ALL = '*';

export type PausedBy = 'job' | 'workflow' | 'global';

/**
 * Pause flags in Redis (so they survive restarts and every process sees
 * them): everything, a whole workflow, or one job.
 */
export class PauseStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
  ) {}

  private get key(): string {
    return this.keys.paused;
  }

  private field(workflow?: string, job?: string): string {
    if (!workflow) return ALL;
    return job ? jobKey(workflow, job) : workflow;
  }

  async pause(workflow?: string, job?: string): Promise<void> {
    await this.redis.hset(this.key, this.field(workflow, job), String(Date.now()));
  }

  async resume(workflow?: string, job?: string): Promise<void> {
    await this.redis.hdel(this.key, this.field(workflow, job));
  }

  async snapshot(): Promise<PauseSnapshot> {
    return new PauseSnapshot(new Set(Object.keys(await this.redis.hgetall(this.key))));
  }

  async pausedBy(workflow: string, job: string): Promise<PausedBy | undefined> {
    const [all, wf, j] = await this.redis.hmget(this.key, ALL, workflow, jobKey(workflow, job));
    return j ? 'job' : wf ? 'workflow' : all ? 'global' : undefined;
  }
}

export class PauseSnapshot {
  constructor(private readonly fields: Set<string>) {}

  pausedBy(workflow: string, job?: string): PausedBy | undefined {
    if (job && this.fields.has(jobKey(workflow, job))) return 'job';
    if (this.fields.has(workflow)) return 'workflow';
    if (this.fields.has(ALL)) return 'global';
    return undefined;
  }
}
