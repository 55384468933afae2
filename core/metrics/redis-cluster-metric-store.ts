import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import type { ScriptCall } from '../redis/script-call.js';
import { labelSetKey, type ClusterMetricStore, type EventIncrements, type RunEventId, type SampleIncrement, type StoredSample } from './cluster-metric-store.js';

/**
 * Records run events' increments, each event once: marks the event in the
 * run's marker hash (HSETNX) and, only if it was not there, adds its
 * increments (HINCRBYFLOAT), all in one atomic command.
 * KEYS[1]: the run's marker hash; KEYS[2..]: the sample hashes.
 * ARGV[1]: marker TTL (s); then per event: its marker field
 * (`<attempt>:<event>`), its number of increments n, then n times: index in
 * KEYS, field (label set), amount.
 * Returns how many of the events were recorded now (the others were before).
 * Reused, KEYS and ARGV rebound, by scripts that write more with it (RunLedger).
 */
export const RECORD_EVENTS_SCRIPT = `
local recorded = 0
local i = 2
while i <= #ARGV do
  local first = i + 2
  local after = first + 3 * tonumber(ARGV[i + 1])
  if redis.call('HSETNX', KEYS[1], ARGV[i], '1') == 1 then
    recorded = recorded + 1
    for j = first, after - 1, 3 do
      redis.call('HINCRBYFLOAT', KEYS[tonumber(ARGV[j])], ARGV[j + 1], ARGV[j + 2])
    end
  end
  i = after
end
if recorded > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return recorded`;

type RecordRedis = Redis & { tideflowRecordMetricEvents(numKeys: number, ...args: Array<string | number>): Promise<number> };

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
  private readonly sampleKeys = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    opts: RedisClusterMetricStoreOptions = {},
  ) {
    this.markerTtlSeconds = opts.markerTtlSeconds ?? 86_400;
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowRecordMetricEvents' in redis)) redis.defineCommand('tideflowRecordMetricEvents', { lua: RECORD_EVENTS_SCRIPT });
  }

  async record(event: RunEventId, increments: readonly SampleIncrement[]): Promise<boolean> {
    const call: ScriptCall = { keys: [], args: [] };
    this.addRecordCall(call, event.runId, [{ event, increments }]);
    return (await (this.redis as RecordRedis).tideflowRecordMetricEvents(call.keys.length, ...call.keys, ...call.args)) === 1;
  }

  /**
   * Appends the KEYS and ARGV of RECORD_EVENTS_SCRIPT for events of one run
   * to `call`'s (empty, or another script's share first). Throws, adding
   * nothing, on an amount that is not a finite number.
   */
  addRecordCall(call: ScriptCall, runId: string, events: readonly EventIncrements[]): void {
    const { keys, args } = call;
    const [firstKey, firstArg] = [keys.length, args.length];
    keys.push(this.keys.metricsRecorded(runId));
    args.push(this.markerTtlSeconds);
    for (const { event, increments } of events) {
      args.push(`${event.attempt}:${event.event}`, increments.length);
      for (const { sample, labels, by } of increments) {
        if (event.runId !== runId || !Number.isFinite(by)) {
          keys.length = firstKey;
          args.length = firstArg;
          throw new Error(event.runId !== runId ? `metrics: event of run ${event.runId} recorded with run ${runId}` : `metrics: ${sample} cannot be increased by ${by}`);
        }
        const key = this.sampleKey(sample);
        // Index in this script's KEYS (1 is the marker).
        let index = keys.indexOf(key, firstKey + 1);
        if (index < 0) index = keys.push(key) - 1;
        args.push(index - firstKey + 1, labelSetKey(labels), by);
      }
    }
  }

  /** The hash of a sample name (a handful of names: built once each). */
  private sampleKey(sample: string): string {
    let key = this.sampleKeys.get(sample);
    if (key === undefined) this.sampleKeys.set(sample, (key = this.keys.metricSamples(sample)));
    return key;
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
