import { randomUUID } from 'node:crypto';
import { createDockerClient } from '../../plugins/shared/containers/docker-engine.js';
import type Docker from 'dockerode';

export function testDocker(): Docker {
  return createDockerClient(process.env.DOCKER_HOST);
}

/** A unique label value that marks every container one test creates. */
export function testRunLabel(): { key: string; value: string } {
  return { key: 'tideflow.test', value: randomUUID().slice(0, 12) };
}

/** Force-removes every container carrying label key=value (cleanup, even on failure). */
export async function removeLabelled(docker: Docker, key: string, value: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${key}=${value}`] } });
  await Promise.all(
    list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)),
  );
  return list.length;
}

export { randomUUID };

/**
 * A running tideflow/sleeper made directly, not by the spawner (so not
 * AutoRemove): stands for unmanaged, protected or older containers.
 */
export async function startSleeper(docker: Docker, mark: { key: string; value: string }, labels: Record<string, string>): Promise<string> {
  const c = await docker.createContainer({
    Image: 'tideflow/sleeper',
    Labels: { [mark.key]: mark.value, ...labels },
    HostConfig: { NetworkMode: 'none', Memory: 16 * 1024 * 1024, NanoCpus: 50_000_000 },
  });
  await c.start();
  return c.id;
}
