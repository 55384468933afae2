import { Redis } from 'ioredis';
import type { EngineConfig } from '../core/config/engine-config.js';
import { RedisEngineControl } from '../core/control/redis-engine-control.js';
import { publishWorkflowChange } from '../core/control/cluster-event.js';
import { readEngineInfo } from '../core/engine/engine-info.js';
import { RunHistory } from '../core/history/run-history.js';
import { silentLogger } from '../core/logging/logger.js';
import { EngineKeys } from '../core/redis/engine-keys.js';
import { RunQueues } from '../core/queues/run-queues.js';
import { PauseStore } from '../core/scheduler/pause-store.js';
import { SchedulerSync } from '../core/scheduler/scheduler-sync.js';
import { RunCancellation } from '../core/runner/run-cancellation.js';
import { WorkflowCatalog } from '../core/workflow/workflow-catalog.js';

/**
 * The CLI's way to a running engine: straight to its Redis (REDIS_URL, or
 * the private one the engine in this data dir advertises), with the same
 * control the API uses.
 */
export async function connectControl(config: EngineConfig): Promise<{ control: RedisEngineControl; close: () => Promise<void>; redisUrl: string }> {
  const info = readEngineInfo(config.dataDir);
  const redisUrl = config.redisUrl ?? info?.redisUrl;
  if (!redisUrl) {
    throw new Error(`no running engine found for data dir ${config.dataDir}: start one with \`npm start\`, or set REDIS_URL to the engine's Redis`);
  }
  const prefix = config.redisUrl ? config.queuePrefix : (info?.queuePrefix ?? config.queuePrefix);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`cannot reach Redis at ${redisUrl}: ${(err as Error).message}`);
  }
  const keys = new EngineKeys(prefix);
  const queues = new RunQueues(redis, keys);
  const control = new RedisEngineControl({
    queues,
    catalog: new WorkflowCatalog(redis, keys),
    pauses: new PauseStore(redis, keys),
    history: new RunHistory(redis, keys),
    sync: new SchedulerSync(queues, silentLogger()),
    publishCancel: (runId) => RunCancellation.publish(redis, keys, runId),
    // `tideflow pause|resume` is heard live by every dashboard, like the API's.
    publishChange: (change) => publishWorkflowChange(redis, keys, change),
  });
  return {
    control,
    redisUrl,
    close: async () => {
      await queues.close();
      redis.disconnect();
    },
  };
}
