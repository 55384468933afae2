import type { Redis } from 'ioredis';
import type { RunEvent } from '../../core/control/engine-events.js';
import { RunHistory } from '../../core/history/run-history.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { silentLogger, type Logger } from '../../core/logging/logger.js';
import type { EventIncrements } from '../../core/metrics/cluster-metric-store.js';
import { RedisClusterMetricStore } from '../../core/metrics/redis-cluster-metric-store.js';
import { RunIncrements, type CountingPlugin } from '../../core/metrics/run-metrics.js';
import type { EngineKeys } from '../../core/redis/engine-keys.js';
import { RunLedger } from '../../core/runner/run-ledger.js';

/**
 * Counts run events in the cluster-wide metrics as the runner does: each
 * with its run's record, through a RunLedger on `redis` (the metrics are
 * counted with the records that carry them, nowhere else).
 */
export function runCounting(redis: Redis, keys: EngineKeys, log: Logger = silentLogger()) {
  const history = new RunHistory(redis, keys);
  const store = new RedisClusterMetricStore(redis, keys);
  const ledger = new RunLedger(redis, history, store, new RunIncrements(log), log);
  return {
    history,
    store,
    ledger,
    /** A run event saved with its record (the event's run) and counted, with the plugin's counts on success. */
    count: (e: RunEvent, from?: CountingPlugin) => ledger.write(e.run, [e], { from }),
    /** A record saved with these increments counted as its event. */
    countAs: (run: RunRecord, counted: EventIncrements) => ledger.writeCounted(run, counted),
  };
}
