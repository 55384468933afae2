import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a Docker container's cgroup lives on this host. Shared by the cgroup
 * metric source (CPU/memory files) and the cgroup killer (cgroup.procs), so
 * both agree on which directory belongs to which container.
 *
 * Supports cgroup v1 (cpuacct + memory controllers, separately or co-mounted)
 * and v2, with Docker's cgroupfs (`docker/<id>`) and systemd
 * (`system.slice/docker-<id>.scope`) drivers, plus extra parents (e.g. a
 * custom --cgroup-parent).
 */
export type CgroupLayout =
  | { version: 1; cpuDir: string; memDir: string }
  | { version: 2 };

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
const V1_CPU_DIRS = ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'];
/** A full Docker container id. */
export const FULL_ID = /^[0-9a-f]{64}$/;

/**
 * Synchronous on purpose (async signature kept for callers): a cgroup
 * pseudo-file check is microseconds, while fs/promises queues it on libuv's
 * 4-thread pool behind every other read of a 300-container kill or sample.
 */
export async function exists(p: string): Promise<boolean> {
  return existsSync(p);
}

/** Which cgroup version is mounted at the root, or null if none usable. */
export async function detectCgroupLayout(root: string): Promise<CgroupLayout | null> {
  if (await exists(path.join(root, 'cgroup.controllers'))) return { version: 2 };
  for (const d of V1_CPU_DIRS) {
    if ((await exists(path.join(root, d, 'cpuacct.usage'))) && (await exists(path.join(root, 'memory')))) {
      return { version: 1, cpuDir: d, memDir: 'memory' };
    }
  }
  return null;
}

/** Whether some Docker cgroup parent exists under the layout's CPU controller (else containers are not on this host). */
export async function hasDockerParent(root: string, layout: CgroupLayout, parents: string[] = []): Promise<boolean> {
  const base = layout.version === 1 ? path.join(root, layout.cpuDir) : root;
  for (const p of ['docker', 'system.slice', ...parents]) if (await exists(path.join(base, p))) return true;
  return false;
}

/** Candidate cgroup paths of a container, relative to a controller root. */
export function containerCgroupCandidates(id: string, parents: string[] = []): string[] {
  return [`docker/${id}`, `system.slice/docker-${id}.scope`, ...parents.flatMap((p) => [`${p}/${id}`, `${p}/docker-${id}.scope`])];
}

/** Finds the container's cgroup dir under a controller root: the first candidate holding `probe` (null if absent). */
export async function findContainerCgroupDir(controllerRoot: string, id: string, probe: string, parents: string[] = []): Promise<string | null> {
  for (const rel of containerCgroupCandidates(id, parents)) {
    const dir = path.join(controllerRoot, rel);
    if (await exists(path.join(dir, probe))) return dir;
  }
  return null;
}

/**
 * The container's cgroup dir that lists its processes (`cgroup.procs`): on
 * v1 the pids, memory or cpuacct controller's group (a container's
 * processes are in the same group in every controller), on v2 the unified
 * group. Null when not found (not a local container, or already gone).
 */
export async function findContainerProcsDir(root: string, layout: CgroupLayout, id: string, parents: string[] = []): Promise<string | null> {
  const controllers = layout.version === 1 ? ['pids', layout.memDir, layout.cpuDir] : [''];
  for (const c of controllers) {
    const dir = await findContainerCgroupDir(path.join(root, c), id, 'cgroup.procs', parents);
    if (dir) return dir;
  }
  return null;
}
