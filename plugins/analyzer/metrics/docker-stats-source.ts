import type Docker from 'dockerode';
import { mapBounded } from '../../../core/util/map-bounded.js';
import type { ContainerSample, MetricSource, SampleOptions } from './metric-source.js';

/**
 * Container CPU%/memory from the Docker stats API: works for remote engines,
 * but each call takes ~1-2 s (the engine waits for its own second reading),
 * so calls run in parallel (bounded). The window is the engine's (~1 s), not
 * `windowMs`. CPU% of one core = Δcontainer / Δsystem × online CPUs × 100,
 * as the docker CLI computes it; memory = usage − inactive file cache.
 */
export class DockerStatsMetricSource implements MetricSource {
  readonly name = 'docker' as const;

  constructor(
    private readonly docker: Docker,
    private readonly parallelism = 50,
  ) {}

  async available(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  async sample(containerIds: string[], opts: SampleOptions): Promise<Map<string, ContainerSample>> {
    const results = await mapBounded(containerIds, this.parallelism, async (id) => {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const s = (await this.docker.getContainer(id).stats({ stream: false, ...(opts.signal ? { abortSignal: opts.signal } : {}) } as { stream: false })) as any;
      return DockerStatsMetricSource.fromStats(id, s);
    });
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    const out = new Map<string, ContainerSample>();
    results.forEach((r, i) => {
      const id = containerIds[i]!;
      if (r.status === 'fulfilled') out.set(id, r.value);
      else {
        const code = (r.reason as { statusCode?: number })?.statusCode;
        out.set(id, { id, cpuPct: null, memBytes: null, error: code === 404 ? 'container gone' : String((r.reason as Error)?.message ?? r.reason) });
      }
    });
    return out;
  }

  /** Converts one stats answer (pure, so it can be tested on recorded JSON). */
  static fromStats(id: string, s: any): ContainerSample {
    let cpuPct: number | null = null;
    const cpu = s?.cpu_stats;
    const pre = s?.precpu_stats;
    const cpuDelta = Number(cpu?.cpu_usage?.total_usage) - Number(pre?.cpu_usage?.total_usage);
    const sysDelta = Number(cpu?.system_cpu_usage) - Number(pre?.system_cpu_usage);
    const online = Number(cpu?.online_cpus) || cpu?.cpu_usage?.percpu_usage?.length || 1;
    if (Number.isFinite(cpuDelta) && Number.isFinite(sysDelta) && sysDelta > 0 && cpuDelta >= 0) cpuPct = (cpuDelta / sysDelta) * online * 100;
    let memBytes: number | null = null;
    const mem = s?.memory_stats;
    if (typeof mem?.usage === 'number') {
      const inactive = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file ?? 0;
      memBytes = Math.max(0, mem.usage - inactive);
    }
    const error = cpuPct === null || memBytes === null ? 'stats incomplete (container not running?)' : undefined;
    return { id, cpuPct, memBytes, ...(error ? { error } : {}) };
  }
}
