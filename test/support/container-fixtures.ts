import { afterAll, afterEach, beforeAll } from 'vitest';
import type Docker from 'dockerode';
import { buildWorkloadImages } from '../../plugins/spawner/images/workload-images.js';
import { removeManagedContainers } from '../../plugins/spawner/managed-containers.js';
import { removeLabelled } from './docker.js';

/**
 * The hooks every container test file needs: the workload images built
 * first; the managed containers of the file's workflows removed after each
 * test, protected ones included; everything with the file's mark removed at
 * the end, even after a failure.
 */
export function useContainerFixtures(docker: Docker, workflows: Set<string>, mark: { key: string; value: string }): void {
  beforeAll(async () => {
    await buildWorkloadImages(docker);
  });
  afterEach(async () => {
    for (const wf of workflows) await removeManagedContainers(docker, { workflow: wf, includeProtected: true });
  });
  afterAll(async () => {
    await removeLabelled(docker, mark.key, mark.value);
  });
}
