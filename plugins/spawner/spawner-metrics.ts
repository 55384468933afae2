import type Docker from 'dockerode';
import { Gauge } from 'prom-client';
import type { ClusterCounterSpec, PluginMetricsContext, RunCount } from '../../core/plugin/plugin.js';
import { LABELS, listManagedContainers } from '../shared/containers/container-labels.js';
import { CONTAINER_CLASSES, type SpawnResult } from '../shared/records/container-records.js';
import { errorMessage } from '../../core/util/error-message.js';

/** Containers its runs created: a cluster counter (declared in the manifest, fed by countSpawnRun). */
export const CONTAINERS_SPAWNED = {
  name: 'tideflow_containers_spawned_total',
  help: 'Containers created by the spawner, by workflow and class.',
  labelNames: ['workflow', 'class'],
} as const satisfies ClusterCounterSpec;

/** What a succeeded spawn run adds: its containers by class (a retried run's `created` holds each slot once). */
export function countSpawnRun(output: SpawnResult): RunCount[] {
  const byClass = new Map<string, number>();
  for (const c of output.created) byClass.set(c.class, (byClass.get(c.class) ?? 0) + 1);
  return [...byClass].map(([cls, n]) => ({ counter: CONTAINERS_SPAWNED.name, labels: { workflow: output.workflow, class: cls }, value: n }));
}

/**
 * The spawner's part of /metrics:
 * - tideflow_containers_spawned_total{workflow,class}: containers its runs created,
 *   in any process (CONTAINERS_SPAWNED, counted by countSpawnRun)
 * - tideflow_containers_live{workflow,class}: running managed containers of the
 *   loaded workflows that use the spawner, counted from Docker at scrape time
 *   (by label; a container without a class label counts as `unknown`)
 */
export function registerSpawnerMetrics(ctx: PluginMetricsContext, docker: Docker): void {
  const { registry, log } = ctx;
  new Gauge({
    name: 'tideflow_containers_live',
    help: 'Running managed containers by workflow and class (tideflow.class label), read from Docker at scrape time.',
    labelNames: ['workflow', 'class'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const workflows = new Set((await ctx.jobs()).map((j) => j.workflow));
        if (!workflows.size) return;
        // Zero for every known workflow and class, so a workflow whose containers all died reads 0, not "no data".
        for (const workflow of workflows) for (const cls of CONTAINER_CLASSES) this.set({ workflow, class: cls }, 0);
        for (const c of await listManagedContainers(docker, { all: false })) {
          const workflow = c.Labels[LABELS.workflow];
          if (workflow === undefined || !workflows.has(workflow)) continue;
          this.inc({ workflow, class: c.Labels[LABELS.class] ?? 'unknown' });
        }
      } catch (err) {
        // No series at all when Docker does not answer: absent data, never a false 0.
        this.reset();
        log.warn({ err: errorMessage(err) }, 'metrics: could not list managed containers');
      }
    },
  });
}
