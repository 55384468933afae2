import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { labelSetKey, type ClusterMetricStore, type RunEventId, type SampleIncrement, type StoredSample } from './cluster-metric-store.js';

/**
 * Records one run event's increments, once: marks the event in the run's
 * marker hash (HSETNX) and, only if it was not there, adds every increment
 * (HINCRBYFLOAT), all in one atomic command.
 * KEYS[1]: the run's marker hash; KEYS[2..]: the sample hashes.
 * ARGV[1]: the marker field (`<attempt>:<event>`), ARGV[2]: marker TTL (s),
 * then per increment: index in KEYS, field (label set), amount.
 * Returns 1 when recorded, 0 when the event was recorded before.
 */
const RECORD_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
for i = 3, #ARGV, 3 do
  redis.call('HINCRBYFLOAT', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
end
return 1`;

type RecordRedis = Redis & { tideflowRecordMetrics(numKeys: number, ...args: Array<string | number>): Promise<number> };

/** The label set of a hash field written by labelSetKey; undefined for anything else. */
function parseLabelSetKey(field: string): Record<string, string> | undefined {
  try {
    const pairs: unknown = JSON.parse(field);
    if (!Array.isArray(pairs)) return undefined;
    const labels: Record<string, string> = {};
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return undefined;
      labels[pair[0]] = pair[1];
    }
    return labels;
  } catch {
    return undefined;
  }
}

export interface RedisClusterMetricStoreOptions {
  /** How long a run's marker outlives its last recorded event. Default 1 day. */
  markerTtlSeconds?: number;
}

/**
 * The cluster-wide metrics in Redis (see EngineKeys.metricSamples and
 * metricsRecorded): a hash per sample name, fields = label sets, values =
 * sums; a marker hash per run makes each (run, attempt, event) count once.
 */
export class RedisClusterMetricStore implements ClusterMetricStore {
  private readonly markerTtlSeconds: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    opts: RedisClusterMetricStoreOptions = {},
  ) {
    this.markerTtlSeconds = opts.markerTtlSeconds ?? 86_400;
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowRecordMetrics' in redis)) redis.defineCommand('tideflowRecordMetrics', { lua: RECORD_SCRIPT });
  }

  async record(event: RunEventId, increments: readonly SampleIncrement[]): Promise<boolean> {
    const sampleKeys: string[] = [];
    const args: Array<string | number> = [];
    for (const { sample, labels, by } of increments) {
      if (!Number.isFinite(by)) throw new Error(`metrics: ${sample} cannot be increased by ${by}`);
      const key = this.keys.metricSamples(sample);
      let index = sampleKeys.indexOf(key);
      if (index < 0) index = sampleKeys.push(key) - 1;
      // KEYS[1] is the marker: the sample hashes start at 2.
      args.push(index + 2, labelSetKey(labels), String(by));
    }
    const recorded = await (this.redis as RecordRedis).tideflowRecordMetrics(
      1 + sampleKeys.length,
      this.keys.metricsRecorded(event.runId),
      ...sampleKeys,
      `${event.attempt}:${event.event}`,
      this.markerTtlSeconds,
      ...args,
    );
    return recorded === 1;
  }

  async read(sample: string): Promise<StoredSample[]> {
    const all = await this.redis.hgetall(this.keys.metricSamples(sample));
    const out: StoredSample[] = [];
    for (const [field, raw] of Object.entries(all)) {
      const labels = parseLabelSetKey(field);
      const value = Number(raw);
      // A field not written by record() (by hand, another version): not ours to show.
      if (labels && Number.isFinite(value)) out.push({ labels, value });
    }
    return out;
  }
}
