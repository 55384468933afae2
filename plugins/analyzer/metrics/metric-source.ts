/** One container's measured consumption over the sample window. */
export interface ContainerSample {
  id: string;
  /** Percent of one core over the window; null when it could not be measured. */
  cpuPct: number | null;
  /** Bytes in use (usage minus inactive file cache, as Docker reports). */
  memBytes: number | null;
  error?: string;
}

export interface SampleOptions {
  /** Time between the two CPU readings. */
  windowMs: number;
  signal?: AbortSignal;
}

/**
 * Where container CPU/memory figures come from: cgroup files, the Docker
 * stats API, or the kernel module's /proc/tideflow_sysinfo. All produce the
 * same samples so the policy never knows which one ran.
 */
export interface MetricSource {
  readonly name: 'cgroup' | 'docker' | 'kernel';
  /** Whether this source can measure containers on this host right now. */
  available(): Promise<boolean>;
  /** Samples the given full (64-hex) container ids. Missing ones get null figures and an error. */
  sample(containerIds: string[], opts: SampleOptions): Promise<Map<string, ContainerSample>>;
}
