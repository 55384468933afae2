import type Docker from 'dockerode';
import { sleep } from '../../core/util/sleep.js';
import { mapBounded } from '../../core/util/map-bounded.js';
import { isRemovalInProgress, statusCode } from '../shared/containers/docker-errors.js';
import { errorMessage } from '../../core/util/error-message.js';
import { LABELS, listManagedContainers } from '../shared/containers/container-labels.js';

export { listManagedContainers };

export interface RemoveManagedOptions {
  /** Only this workflow's containers (default: every workflow's). */
  workflow?: string;
  /** Also remove `tideflow.protected=true` ones (default false). */
  includeProtected?: boolean;
  parallelism?: number;
  /** Tries per container before it is reported failed (default 3, 500 ms apart, doubling). */
  attempts?: number;
  retryDelayMs?: number;
}

export interface RemoveManagedResult {
  removed: string[];
  /** Protected ones left in place. */
  keptProtected: string[];
  /** Still there after every try: id, name and the last error. */
  failed: Array<{ id: string; name: string; error: string }>;
}

/** Polls until the container is gone (404) or the deadline passes (then returns anyway). */
async function waitGone(docker: Docker, id: string, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      await docker.getContainer(id).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw err;
    }
    await sleep(50);
  }
}

/**
 * Force-removes (SIGKILL + remove) the managed containers of one workflow or
 * of all. Used by `tideflow cleanup [<wf>]` and by the spawner's shutdown.
 * A container already gone counts as removed.
 */
export async function removeManagedContainers(docker: Docker, opts: RemoveManagedOptions = {}): Promise<RemoveManagedResult> {
  const list = await listManagedContainers(docker, { workflow: opts.workflow });
  const keptProtected = opts.includeProtected ? [] : list.filter((c) => c.Labels?.[LABELS.protected] === 'true').map((c) => c.Id);
  const targets = list.filter((c) => !keptProtected.includes(c.Id));
  const attempts = Math.max(1, opts.attempts ?? 3);
  const removeOnce = async (id: string) => {
    try {
      await docker.getContainer(id).remove({ force: true });
    } catch (err) {
      // 404: already gone; a removal in progress (e.g. Docker's own AutoRemove after the
      // analyzer killed it) is someone else finishing it: wait, bounded, until it is gone.
      if (isRemovalInProgress(err)) return waitGone(docker, id, 10_000);
      if (statusCode(err) !== 404) throw err;
    }
  };
  // A removal can fail for a moment (the daemon busy, a container mid-start): try again, a few times.
  const results = await mapBounded(targets, opts.parallelism ?? 16, async (c) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await removeOnce(c.Id);
      } catch (err) {
        if (attempt >= attempts) throw err;
        await sleep((opts.retryDelayMs ?? 500) * 2 ** (attempt - 1));
      }
    }
  });
  const out: RemoveManagedResult = { removed: [], keptProtected, failed: [] };
  results.forEach((r, i) => {
    const c = targets[i]!;
    if (r.status === 'fulfilled') out.removed.push(c.Id);
    else out.failed.push({ id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, '') || c.Id.slice(0, 12), error: errorMessage(r.reason) });
  });
  return out;
}
