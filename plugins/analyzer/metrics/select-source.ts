import type Docker from 'dockerode';
import { NonRetryableError } from '../../../core/plugin/errors.js';
import { isLocalEngine } from '../../shared/containers/docker-engine.js';
import { CgroupMetricSource } from './cgroup-source.js';
import { DockerStatsMetricSource } from './docker-stats-source.js';
import { FallbackMetricSource } from './fallback-source.js';
import { KernelMetricSource } from './kernel-source.js';
import type { MetricSource } from './metric-source.js';

export type MetricSourceKind = 'auto' | 'cgroup' | 'docker' | 'kernel';

export interface SelectSourceOptions {
  docker: Docker;
  cgroupRoot?: string;
  statsParallelism?: number;
  /** Makes the kernel module source (/proc/tideflow_sysinfo); tests may inject their own. */
  kernel?: () => MetricSource | null | Promise<MetricSource | null>;
}

export function defaultKernelSource(): MetricSource | null {
  return new KernelMetricSource();
}

/**
 * The metric source for a run. `auto`, for a local engine: the kernel
 * module's file when it is loaded, else cgroup files when the hierarchy is
 * readable; containers the chosen source misses are asked of the next one
 * (kernel -> cgroup -> Docker stats API). For a remote engine: the stats API. An explicitly chosen source
 * that cannot work here is a configuration error (not retryable).
 */
export async function selectMetricSource(kind: MetricSourceKind, opts: SelectSourceOptions): Promise<MetricSource> {
  const docker = () => new DockerStatsMetricSource(opts.docker, opts.statsParallelism);
  const cgroup = () => new CgroupMetricSource({ root: opts.cgroupRoot });
  const kernel = async () => (await (opts.kernel ?? defaultKernelSource)()) ?? null;
  switch (kind) {
    case 'docker':
      return docker();
    case 'cgroup': {
      const c = cgroup();
      if (!(await c.available())) throw new NonRetryableError(`metricSource "cgroup": no Docker cgroup hierarchy readable at ${opts.cgroupRoot ?? '/sys/fs/cgroup'}`);
      return c;
    }
    case 'kernel': {
      const k = await kernel();
      if (!k || !(await k.available())) throw new NonRetryableError('metricSource "kernel": the tideflow kernel module (/proc/tideflow_sysinfo) is not available');
      return k;
    }
    case 'auto': {
      if (!isLocalEngine(opts.docker)) return docker();
      const c = cgroup();
      const local = (await c.available()) ? new FallbackMetricSource(c, docker()) : null;
      const k = await kernel();
      if (k && (await k.available())) return new FallbackMetricSource(k, local ?? docker());
      return local ?? docker();
    }
  }
}
