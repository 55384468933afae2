import type { ContainerSample, MetricSource, SampleOptions } from './metric-source.js';

/**
 * Samples with a primary source and asks a fallback only for the containers
 * the primary could not measure at all (e.g. cgroup files of a container
 * that lives under an unexpected cgroup parent). Reports as the primary.
 */
export class FallbackMetricSource implements MetricSource {
  readonly name: MetricSource['name'];

  constructor(
    private readonly primary: MetricSource,
    private readonly fallback: MetricSource,
  ) {
    this.name = primary.name;
  }

  available(): Promise<boolean> {
    return this.primary.available();
  }

  async sample(containerIds: string[], opts: SampleOptions): Promise<Map<string, ContainerSample>> {
    const out = await this.primary.sample(containerIds, opts);
    const missing = containerIds.filter((id) => {
      const s = out.get(id);
      return !s || (s.cpuPct === null && s.memBytes === null);
    });
    if (missing.length === 0) return out;
    const more = await this.fallback.sample(missing, opts);
    for (const id of missing) {
      const s = more.get(id);
      if (s && (s.cpuPct !== null || s.memBytes !== null)) out.set(id, s);
    }
    return out;
  }
}
