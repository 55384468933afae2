import type Docker from 'dockerode';
import { mapBounded } from '../../core/util/map-bounded.js';
import { statusCode } from '../../core/services/docker-errors.js';

export interface KillTarget {
  id: string;
  labels: Record<string, string | undefined>;
}

export interface KillOutcome {
  ok: boolean;
  /** The container was already gone (404) or being removed: counts as done. */
  alreadyGone?: boolean;
  error?: string;
}

/**
 * Last line of defence before a kill: the container must be managed by
 * tideflow, belong to this workflow, and not be protected. Labels cannot
 * change after creation, so the listed labels are authoritative.
 */
export function mayKill(t: KillTarget, workflow: string): string | null {
  if (t.labels['tideflow.managed'] !== 'true') return 'not managed by tideflow';
  if (t.labels['tideflow.workflow'] !== workflow) return `belongs to workflow "${t.labels['tideflow.workflow'] ?? ''}"`;
  if (t.labels['tideflow.protected'] === 'true') return 'protected';
  return null;
}

/**
 * SIGKILL + remove (`remove({force:true})`), bounded in parallel. A container
 * already gone (404) or already being removed (409) counts as done.
 */
export async function killContainers(docker: Docker, targets: KillTarget[], opts: { workflow: string; parallelism: number }): Promise<Map<string, KillOutcome>> {
  const out = new Map<string, KillOutcome>();
  const results = await mapBounded(targets, opts.parallelism, async (t): Promise<KillOutcome> => {
    const refusal = mayKill(t, opts.workflow);
    if (refusal) return { ok: false, error: `refused to kill: ${refusal}` };
    try {
      await docker.getContainer(t.id).remove({ force: true });
      return { ok: true };
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return { ok: true, alreadyGone: true };
      if (code === 409 && /already in progress/i.test(String((err as Error).message))) return { ok: true, alreadyGone: true };
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  });
  results.forEach((r, i) => out.set(targets[i]!.id, r.status === 'fulfilled' ? r.value : { ok: false, error: String(r.reason) }));
  return out;
}
