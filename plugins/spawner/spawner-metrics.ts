import type Docker from 'dockerode';
import { Counter, Gauge } from 'prom-client';
import type { PluginMetricsContext } from '../../core/plugin/plugin.js';
import { LABELS, listManagedContainers } from '../shared/containers/container-labels.js';
import { CONTAINER_CLASSES, type SpawnResult } from '../shared/records/container-records.js';
import { errorMessage } from '../../core/util/error-message.js';

/**
 * The spawner's part of /metrics:
 * - tideflow_containers_spawned_total{workflow,class}: containers its runs created
 * - tideflow_containers_live{workflow,class}: running managed containers of the
 *   loaded workflows that use the spawner, counted from Docker at scrape time
 *   (by label; a container without a class label counts as `unknown`)
 */
export function registerSpawnerMetrics(ctx: PluginMetricsContext<SpawnResult>, docker: Docker): void {
  const { registry, log } = ctx;
  const spawned = new Counter({
    name: 'tideflow_containers_spawned_total',
    help: 'Containers created by the spawner, by workflow and class.',
    labelNames: ['workflow', 'class'],
    registers: [registry],
  });
  ctx.onRunSucceeded((output) => {
    for (const c of output.created) spawned.inc({ workflow: output.workflow, class: c.class });
  });

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
