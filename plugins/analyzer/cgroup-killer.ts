import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { sleep } from '../../core/util/sleep.js';
import path from 'node:path';
import { FULL_ID, findContainerProcsDir, type CgroupLayout } from './metrics/cgroup-paths.js';

/**
 * The fast kill path: SIGKILL sent straight to the processes listed in a
 * container's own cgroup, instead of asking dockerd (which serializes
 * kill/remove at ~35-75 ms per container whatever the parallelism). 95
 * containers die in tens of ms; Docker then notices the exits by itself (and,
 * for AutoRemove containers, removes them at its own pace).
 *
 * Safety rules (the caller has already checked the labels: managed, this
 * workflow, not protected):
 * - only PIDs read from this container's own cgroup.procs (or its
 *   sub-groups) are ever signalled, and the cgroup dir must contain the full
 *   64-hex container id;
 * - a PID must be > 1 and not this process; the container's init PID as
 *   Docker reports it must be among the PIDs read first (proves the group is
 *   the container's and that we see host PIDs, e.g. not running inside
 *   another PID namespace); otherwise nothing is signalled and the caller
 *   falls back to the Docker API.
 * The window between reading a PID and signalling it is microseconds; a
 * PID reused within it is not a practical risk (PIDs are handed out
 * cyclically), and Node has no pidfd API to close it.
 */

export interface CgroupKillOptions {
  root: string;
  layout: CgroupLayout;
  parents?: string[];
  /** How long to wait for the processes to die before giving up (caller falls back to Docker). */
  confirmTimeoutMs: number;
  /** Poll interval while confirming death. */
  pollMs?: number;
}

export type CgroupKillResult =
  | { ok: true; /** The cgroup was gone or empty before any signal was sent. */ alreadyDead: boolean; pids: number; ms: number }
  | { ok: false; /** Why the fast path did not (fully) work; the caller falls back to the Docker API. */ reason: string; signalled: number };

const MAX_DEPTH = 4;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOENT: the group was removed; ENODEV: it is being removed (its files no longer read). Both mean gone. */
function isGroupGone(err: unknown): boolean {
  const c = errCode(err);
  return c === 'ENOENT' || c === 'ENODEV';
}


/*
 * The cgroup and /proc files are read synchronously on purpose: they are tiny
 * in-memory pseudo-files (a read is a few microseconds), while the async fs
 * API queues every read on libuv's 4-thread pool. With 100-300 containers
 * confirmed in parallel, each polling its cgroup every few ms, that queue was
 * most of the kill phase (profiled: see bench/containers.bench.ts notes).
 */

/** PIDs listed in a cgroup dir and its sub-groups; null when the dir is gone. */
function readProcs(dir: string, depth = 0): number[] | null {
  let text: string;
  try {
    text = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
  } catch (err) {
    if (isGroupGone(err)) return null;
    throw err;
  }
  const pids = text.split('\n').filter((l) => l.trim() !== '').map((l) => Number(l));
  if (depth < MAX_DEPTH) {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (!isGroupGone(err)) throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = readProcs(path.join(dir, e.name), depth + 1);
      if (sub) pids.push(...sub);
    }
  }
  return pids;
}

/** True when the PID no longer runs: gone, or a zombie waiting to be reaped (it still shows in cgroup.procs for a while). */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X' || state === 'x';
  } catch {
    return true;
  }
}

function validPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1 && pid !== process.pid;
}

/** SIGKILLs each PID not signalled yet (a SIGKILL is pending until it dies); ESRCH (already gone) is fine. */
function killAll(pids: number[], signalled: Set<number>): void {
  for (const pid of pids) {
    if (!validPid(pid) || signalled.has(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      signalled.add(pid);
    } catch (err) {
      if (errCode(err) !== 'ESRCH') throw err;
    }
  }
}

/**
 * Kills one container through its cgroup and waits (up to confirmTimeoutMs)
 * until its cgroup is empty (or only holds zombies) or gone.
 * `initPid` is the container's State.Pid from `inspect`.
 */
export async function killViaCgroup(id: string, initPid: number, opts: CgroupKillOptions): Promise<CgroupKillResult> {
  const t0 = performance.now();
  if (!FULL_ID.test(id)) return { ok: false, reason: `not a full container id: ${id}`, signalled: 0 };
  let dir: string | null;
  try {
    dir = await findContainerProcsDir(opts.root, opts.layout, id, opts.parents);
  } catch (err) {
    return { ok: false, reason: `cgroup lookup failed: ${(err as Error).message}`, signalled: 0 };
  }
  if (!dir) return { ok: false, reason: 'no cgroup dir found for the container on this host', signalled: 0 };
  if (!dir.includes(id)) return { ok: false, reason: `cgroup dir ${dir} does not name the container`, signalled: 0 };

  const signalled = new Set<number>();
  try {
    const first = readProcs(dir);
    if (first === null || first.length === 0) return { ok: true, alreadyDead: true, pids: 0, ms: performance.now() - t0 };
    const bad = first.filter((p) => !validPid(p));
    if (bad.length > 0) return { ok: false, reason: `cgroup.procs lists unusable PIDs (${bad.slice(0, 3).join(', ')}): another PID namespace?`, signalled: 0 };
    if (!first.includes(initPid)) {
      // Either the container's init just exited (then the group empties by itself) or this is not the
      // container's group as we see it: do not signal anything, let Docker do it.
      return { ok: false, reason: `container init PID ${initPid} not in ${dir}/cgroup.procs`, signalled: 0 };
    }
    killAll(first, signalled);

    const deadline = t0 + opts.confirmTimeoutMs;
    const pollMs = opts.pollMs ?? 5;
    for (;;) {
      const now = readProcs(dir);
      if (now === null || now.length === 0) break;
      const alive: number[] = [];
      for (const p of now) if (!isDead(p)) alive.push(p);
      if (alive.length === 0) break;
      // A process forked between the read and the kill: it is in the same cgroup, signal it too.
      killAll(alive, signalled);
      if (performance.now() >= deadline) return { ok: false, reason: `${alive.length} process(es) still alive after ${opts.confirmTimeoutMs} ms`, signalled: signalled.size };
      await sleep(pollMs);
    }
    return { ok: true, alreadyDead: false, pids: signalled.size, ms: performance.now() - t0 };
  } catch (err) {
    return { ok: false, reason: `cgroup kill failed: ${(err as Error).message}`, signalled: signalled.size };
  }
}
