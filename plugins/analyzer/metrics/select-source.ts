import type Docker from 'dockerode';
import { NonRetryableError } from '../../../core/plugin/errors.js';
import { CgroupMetricSource } from './cgroup-source.js';
import { DockerStatsMetricSource } from './docker-stats-source.js';
import { FallbackMetricSource } from './fallback-source.js';
import type { MetricSource } from './metric-source.js';

export type MetricSourceKind = 'auto' | 'cgroup' | 'docker' | 'kernel';

export interface SelectSourceOptions {
  docker: Docker;
  cgroupRoot?: string;
  statsParallelism?: number;
  /**
   * Makes the kernel module source (/proc/tideflow_sysinfo).
   * >>> KERNEL SOURCE HOOK: plugins/analyzer/metrics/kernel-source.ts
   * (class KernelMetricSource, written with the kernel module issue) did not
   * exist when this was written. Connect it in `defaultKernelSource` below;
   * tests may inject their own factory here.
   */
  kernel?: () => MetricSource | null | Promise<MetricSource | null>;
}

/**
 * >>> KERNEL SOURCE HOOK. Replace the body with
 *   `return new KernelMetricSource();`
 * (and `import { KernelMetricSource } from './kernel-source.js';` above)
 * once kernel-source.ts exists. Returning null means "no kernel source".
 */
export function defaultKernelSource(): MetricSource | null {
  return null;
}

/** cgroup files are only meaningful when the engine runs on this host. */
export function isLocalEngine(docker: Docker): boolean {
  const m = (docker as unknown as { modem?: { socketPath?: string; host?: string } }).modem;
  if (m?.socketPath) return true;
  return m?.host === undefined || ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(m.host);
}

/**
 * The metric source for a run. `auto`: the kernel module's file when its
 * source is available, else cgroup files when the engine is local and the
 * hierarchy is readable (with the stats API as fallback for containers the
 * cgroup files miss), else the Docker stats API. An explicitly chosen source
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
      const k = await kernel();
      if (k && (await k.available())) return new FallbackMetricSource(k, docker());
      if (isLocalEngine(opts.docker)) {
        const c = cgroup();
        if (await c.available()) return new FallbackMetricSource(c, docker());
      }
      return docker();
    }
  }
}
