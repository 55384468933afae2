import type Docker from 'dockerode';

/**
 * The container contract shared by every plugin that touches containers
 * (design.md, "Container contract"). Defined once here: plugins never import
 * each other.
 */
export const LABELS = {
  /** `true` on every container tideflow creates; nothing without it is ever touched. */
  managed: 'tideflow.managed',
  workflow: 'tideflow.workflow',
  /** `high` | `low` */
  class: 'tideflow.class',
  /** The spawner run that created it. */
  run: 'tideflow.run',
  /** Slot of that run (retries fill only missing slots). */
  slot: 'tideflow.slot',
  /** `true`: never killed, not counted. */
  protected: 'tideflow.protected',
  /** On the workload images. */
  image: 'tideflow.image',
} as const;

/**
 * Managed containers, found by label, never by name: of one workflow or of
 * all, running only or in any state (`all`, default true).
 */
export async function listManagedContainers(docker: Docker, opts: { workflow?: string; all?: boolean } = {}): Promise<Docker.ContainerInfo[]> {
  const label = [`${LABELS.managed}=true`];
  if (opts.workflow !== undefined) label.push(`${LABELS.workflow}=${opts.workflow}`);
  const list = await docker.listContainers({ all: opts.all ?? true, filters: { label } });
  // Double check: the filter is the engine's, the rule is ours.
  return list.filter((c) => c.Labels?.[LABELS.managed] === 'true' && (opts.workflow === undefined || c.Labels?.[LABELS.workflow] === opts.workflow));
}
