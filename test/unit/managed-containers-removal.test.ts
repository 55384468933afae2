import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { removeManagedContainers } from '../../plugins/spawner/managed-containers.js';

/**
 * Shutdown removal names a container it could not remove and why, after
 * retrying it. A Docker daemon that refuses one removal for a moment is
 * hard to make on purpose, so the engine's answers are scripted here.
 */
function scriptedDocker(failures: Record<string, number>): { docker: Docker; calls: Record<string, number> } {
  const containers = Object.keys(failures).map((id) => ({ Id: id, Names: [`/tf-${id}`], Labels: { 'tideflow.managed': 'true', 'tideflow.workflow': 'wf' } }));
  const calls: Record<string, number> = {};
  const docker = {
    listContainers: async () => containers,
    getContainer: (id: string) => ({
      remove: async () => {
        calls[id] = (calls[id] ?? 0) + 1;
        if (calls[id]! <= failures[id]!) throw Object.assign(new Error(`(HTTP code 500) server error - could not kill ${id}: device busy`), { statusCode: 500 });
      },
    }),
  } as unknown as Docker;
  return { docker, calls };
}

describe('removeManagedContainers', () => {
  it('retries a removal that failed for a moment', async () => {
    const { docker, calls } = scriptedDocker({ a: 0, b: 2 });
    const r = await removeManagedContainers(docker, { workflow: 'wf', retryDelayMs: 1 });
    expect(r.removed.sort()).toEqual(['a', 'b']);
    expect(r.failed).toEqual([]);
    expect(calls).toEqual({ a: 1, b: 3 });
  });

  it('names the container it could not remove and the last error', async () => {
    const { docker, calls } = scriptedDocker({ a: 0, stuck: 99 });
    const r = await removeManagedContainers(docker, { workflow: 'wf', retryDelayMs: 1 });
    expect(r.removed).toEqual(['a']);
    expect(r.failed).toEqual([{ id: 'stuck', name: 'tf-stuck', error: expect.stringMatching(/could not kill stuck: device busy/) }]);
    expect(calls.stuck).toBe(3);
  });
});
