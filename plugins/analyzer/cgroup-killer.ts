import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
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
 * The window between reading a PID and signalling it is the sweep's
 * reading of all targets' groups (milliseconds at 300); a PID reused within
 * it is not a practical risk (PIDs are handed out cyclically, up to
 * pid_max), and Node has no pidfd API to close it.
 */

export interface CgroupKillOptions {
  root: string;
  layout: CgroupLayout;
  parents?: string[];
  /**
   * How long to wait for the processes to die before giving up (caller falls back to Docker): the wait
   * for a batch ends when none of its processes died for this long, or at 5 times this after the signals.
   */
  confirmTimeoutMs: number;
  /** First poll interval while confirming death (default 5 ms; the interval then grows, to 25 ms at most unless this is longer). */
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

/** A cgroup dir seen by readProcs, with its link count (2 + its sub-directories, on cgroupfs as on any Linux fs). */
interface SeenGroup {
  dir: string;
  nlink: number;
  depth: number;
}

/** The PIDs in one group's own cgroup.procs; null when the group is gone. */
function readOwnProcs(dir: string): number[] | null {
  let text: string;
  try {
    text = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
  } catch (err) {
    if (isGroupGone(err)) return null;
    throw err;
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => Number(l));
}

/** The dir's link count; null when it is gone. */
function linkCount(dir: string): number | null {
  try {
    return statSync(dir).nlink;
  } catch (err) {
    if (isGroupGone(err)) return null;
    throw err;
  }
}

/**
 * PIDs listed in a cgroup dir and its sub-groups; null when the dir is gone.
 * The groups it lists go into `seen` (when given), so a later look can read
 * them again without listing the directories (readAgain).
 */
function readProcs(dir: string, depth = 0, seen?: SeenGroup[]): number[] | null {
  const nlink = seen ? linkCount(dir) : 0;
  if (nlink === null) return null;
  const pids = readOwnProcs(dir);
  if (pids === null) return null;
  seen?.push({ dir, nlink, depth });
  if (depth < MAX_DEPTH) {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (!isGroupGone(err)) throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = readProcs(path.join(dir, e.name), depth + 1, seen);
      if (sub) pids.push(...sub);
    }
  }
  return pids;
}

/**
 * The PIDs in the groups readProcs saw, read again without listing a
 * directory unless its link count changed (a sub-group appeared or went):
 * listing a cgroup directory waits on the hierarchy's lock, which the
 * removal of other containers' groups holds for long stretches (profiled at
 * 300 kills: one poll stalled 0.9 s in readdir), while reading a known
 * group's cgroup.procs and stat-ing its dir do not. Null when every group is
 * gone.
 */
function readAgain(seen: SeenGroup[]): number[] | null {
  const pids: number[] = [];
  let any = false;
  for (const g of [...seen]) {
    if (!seen.includes(g)) continue; // listed again just now, with a parent group
    const nlink = linkCount(g.dir);
    let got: number[] | null;
    if (nlink === null) got = null;
    else if (nlink === g.nlink) got = readOwnProcs(g.dir);
    else {
      // Its sub-groups changed: forget it and what was under it, and list it again (re-adds them).
      for (let i = seen.length - 1; i >= 0; i--) if (seen[i]!.dir === g.dir || seen[i]!.dir.startsWith(g.dir + path.sep)) seen.splice(i, 1);
      got = readProcs(g.dir, g.depth, seen);
    }
    if (got) {
      any = true;
      pids.push(...got);
    }
  }
  return any ? pids : null;
}

/** PF_EXITING in /proc/<pid>/stat's flags: the task is in do_exit(), tearing itself down; it never returns to user space. */
const PF_EXITING = 0x4;
/** SIGKILL (signal 9) in the SigPnd / ShdPnd masks of /proc/<pid>/status. */
const SIGKILL_MASK = 1n << 8n;

/**
 * What a signalled process has come to, from /proc/<pid>/stat (and, for a
 * task that still runs, /proc/<pid>/status):
 * - `dead`: a zombie waiting to be reaped (it still shows in cgroup.procs for
 *   a while), or exiting (PF_EXITING: the kernel is in do_exit() for it,
 *   releasing its memory and, for a container's init, its namespaces);
 * - `doomed`: runnable or in an interruptible sleep with a SIGKILL pending:
 *   it is woken for it and dies the next time it is scheduled, without
 *   running another user-space instruction (SIGKILL cannot be blocked,
 *   caught or ignored). On a busy host hundreds of these wait their turn on
 *   the CPU for seconds; the kernel finishes them, nobody needs to ask again;
 * - `alive`: anything else, notably a task in uninterruptible sleep (`D`)
 *   with the SIGKILL pending: a task frozen by the cgroup v1 freezer shows
 *   so, and dies only once thawed.
 */
export function killState(stat: string, status?: string | (() => string)): 'dead' | 'doomed' | 'alive' {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 7);
  const state = fields[0];
  if (state === 'Z' || state === 'X' || state === 'x' || (Number(fields[6]) & PF_EXITING) !== 0) return 'dead';
  if ((state !== 'R' && state !== 'S') || status === undefined) return 'alive';
  // Read only now (the caller may pass a reader): a task in any other state needs no second file.
  const text = typeof status === 'string' ? status : status();
  const pending = (name: string) => {
    const at = text.indexOf(`\n${name}:`);
    if (at < 0) return 0n;
    const hex = text.slice(at + name.length + 2, text.indexOf('\n', at + 1)).trim();
    return /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : 0n;
  };
  return ((pending('SigPnd') | pending('ShdPnd')) & SIGKILL_MASK) !== 0n ? 'doomed' : 'alive';
}

/** True when the PID will never run user code again: gone, dead or doomed (see killState). */
function isDead(pid: number): boolean {
  try {
    return killState(readFileSync(`/proc/${pid}/stat`, 'utf8'), () => readFileSync(`/proc/${pid}/status`, 'utf8')) !== 'alive';
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

export interface CgroupKillTarget {
  /** Full 64-hex container id. */
  id: string;
  /** The container's State.Pid from `inspect`. */
  initPid: number;
}

/** One target between its signal and its confirmed death. */
interface Pending {
  id: string;
  dir: string;
  /** The groups the sweep read (the container's and its sub-groups). */
  seen: SeenGroup[];
  signalled: Set<number>;
  /** PIDs signalled and not yet seen dead: the cheap check of each poll. */
  watch: number[];
  /** PIDs seen dead or doomed (neither comes back): not read again when the group is. */
  confirmed: Set<number>;
}

/** A target whose group was read and checked: the PIDs to signal. */
interface Checked {
  id: string;
  dir: string;
  seen: SeenGroup[];
  pids: number[];
}

/** Reads the group and checks it; a result when there is nothing to signal (or it is refused), else what to signal. */
function checkTarget(t: CgroupKillTarget, dir: string | null, t0: number): CgroupKillResult | Checked {
  if (!dir) return { ok: false, reason: 'no cgroup dir found for the container on this host', signalled: 0 };
  if (!dir.includes(t.id)) return { ok: false, reason: `cgroup dir ${dir} does not name the container`, signalled: 0 };
  try {
    const seen: SeenGroup[] = [];
    const pids = readProcs(dir, 0, seen);
    if (pids === null || pids.length === 0) return { ok: true, alreadyDead: true, pids: 0, ms: performance.now() - t0 };
    const bad = pids.filter((p) => !validPid(p));
    if (bad.length > 0) return { ok: false, reason: `cgroup.procs lists unusable PIDs (${bad.slice(0, 3).join(', ')}): another PID namespace?`, signalled: 0 };
    if (!pids.includes(t.initPid)) {
      // Either the container's init just exited (then the group empties by itself) or this is not the
      // container's group as we see it: do not signal anything, let Docker do it.
      return { ok: false, reason: `container init PID ${t.initPid} not in ${dir}/cgroup.procs`, signalled: 0 };
    }
    return { id: t.id, dir, seen, pids };
  } catch (err) {
    return { ok: false, reason: `cgroup kill failed: ${(err as Error).message}`, signalled: 0 };
  }
}

/** SIGKILLs a checked target's PIDs; what to watch, or why it failed. */
function signalTarget(c: Checked): CgroupKillResult | Pending {
  const signalled = new Set<number>();
  try {
    killAll(c.pids, signalled);
    return { id: c.id, dir: c.dir, seen: c.seen, signalled, watch: [...signalled], confirmed: new Set() };
  } catch (err) {
    return { ok: false, reason: `cgroup kill failed: ${(err as Error).message}`, signalled: signalled.size };
  }
}

/**
 * One poll of a signalled target: done when every PID it signalled is dead
 * and its cgroup then lists no live PID (a process forked between the read
 * and the kill is in the same cgroup: it is signalled too, and watched).
 * Only the first still-live PID is read while any is alive, so a poll of a
 * target that is still dying costs one /proc read.
 */
function confirmDead(p: Pending, progress: { deaths: number }): boolean {
  while (p.watch.length > 0) {
    if (!isDead(p.watch[0]!)) return false;
    p.confirmed.add(p.watch.shift()!);
    progress.deaths++;
  }
  const now = readAgain(p.seen);
  if (now === null) return true;
  const alive: number[] = [];
  for (const pid of now) {
    if (p.confirmed.has(pid)) continue;
    if (isDead(pid)) p.confirmed.add(pid);
    else alive.push(pid);
  }
  if (alive.length === 0) return true;
  killAll(alive, p.signalled);
  // Live PIDs signalled before (a SIGKILL still pending) and new ones alike are watched; one that could
  // not be signalled (gone meanwhile) leaves the watch empty, so the next poll reads the group again.
  // A watched PID that died and was reused by another process within one poll would keep the target
  // pending until the timeout (then the caller asks Docker): never a signal to it.
  p.watch = alive.filter((pid) => p.signalled.has(pid));
  return false;
}

/**
 * Kills many containers through their cgroups at once: every group is found,
 * checked and signalled in one synchronous sweep (no container waits for
 * another's Docker call or poll), then one shared loop confirms the deaths,
 * polling every `pollMs` at first and less often as it waits (up to 25 ms
 * apart; each poll of a dying target is one /proc read). A target still
 * alive when none of the batch's processes died for `confirmTimeoutMs` (or
 * 5x that after the sweep) gets `ok: false` (the caller falls back to the
 * Docker API). Same safety rules as killViaCgroup.
 */
export async function killManyViaCgroup(targets: readonly CgroupKillTarget[], opts: CgroupKillOptions): Promise<Map<string, CgroupKillResult>> {
  const out = new Map<string, CgroupKillResult>();
  const dirs = await Promise.all(
    targets.map(async (t): Promise<string | null | { error: string }> => {
      if (!FULL_ID.test(t.id)) return { error: `not a full container id: ${t.id}` };
      try {
        return await findContainerProcsDir(opts.root, opts.layout, t.id, opts.parents);
      } catch (err) {
        return { error: `cgroup lookup failed: ${(err as Error).message}` };
      }
    }),
  );
  const t0 = performance.now();
  // Every group is read and checked before the first signal: once containers die, Docker's teardown of
  // their groups holds the hierarchy's lock, and reading the rest of the groups then waited on it (at 300:
  // a sweep that read and signalled target by target took most of a second).
  const checked: Checked[] = [];
  targets.forEach((t, i) => {
    const d = dirs[i]!;
    if (d !== null && typeof d === 'object') return out.set(t.id, { ok: false, reason: d.error, signalled: 0 });
    const r = checkTarget(t, d, t0);
    if ('seen' in r) checked.push(r);
    else out.set(t.id, r);
  });
  let pending: Pending[] = [];
  for (const c of checked) {
    const r = signalTarget(c);
    if ('dir' in r) pending.push(r);
    else out.set(c.id, r);
  }

  // The wait ends for the targets still alive when no signalled process of the batch has died for
  // confirmTimeoutMs (or, whatever the progress, MAX_WAIT_FACTOR times that after the sweep). On a loaded
  // host hundreds of deaths trickle in over seconds, each one the kernel's to finish: a target
  // given up then would only be killed again through the Docker API, queued behind dockerd's handling
  // of all the others' exits (measured: 35 s at 300). A frozen group, where nothing dies, still
  // times out after confirmTimeoutMs.
  const progress = { deaths: 0 };
  let lastDeaths = 0;
  let lastProgress = t0;
  const hardDeadline = t0 + opts.confirmTimeoutMs * MAX_WAIT_FACTOR;
  const deadline = () => Math.min(hardDeadline, lastProgress + opts.confirmTimeoutMs);
  let pollMs = opts.pollMs ?? 5;
  const maxPollMs = Math.max(MAX_POLL_MS, pollMs);
  // The first look is right after the sweep: a process signalled is doomed at once (SIGKILL pending),
  // unless it cannot be woken for it.
  while (pending.length > 0) {
    const still: Pending[] = [];
    for (const p of pending) {
      try {
        if (confirmDead(p, progress)) out.set(p.id, { ok: true, alreadyDead: false, pids: p.signalled.size, ms: performance.now() - t0 });
        else still.push(p);
      } catch (err) {
        out.set(p.id, { ok: false, reason: `cgroup kill failed: ${(err as Error).message}`, signalled: p.signalled.size });
      }
    }
    pending = still;
    if (pending.length === 0) break;
    if (progress.deaths > lastDeaths) {
      lastDeaths = progress.deaths;
      lastProgress = performance.now();
    }
    if (performance.now() >= deadline()) {
      for (const p of pending) {
        let alive: number | string;
        try {
          alive = readAgain(p.seen)?.filter((pid) => !isDead(pid)).length ?? 0;
        } catch {
          alive = 'some';
        }
        const waited = Math.round(performance.now() - t0);
        out.set(p.id, { ok: false, reason: `${alive} process(es) still alive ${waited} ms after SIGKILL (none of the batch died in the last ${opts.confirmTimeoutMs} ms, or the wait reached ${MAX_WAIT_FACTOR}x that)`, signalled: p.signalled.size });
      }
      break;
    }
    // The next look is one interval later, and with many targets spaced by their number too (a poll reads
    // /proc files per target, and on a busy host each read is CPU taken from the processes that are dying).
    const wait = Math.max(pollMs, pending.length * POLL_MS_PER_TARGET);
    pollMs = Math.min(maxPollMs, pollMs * 1.5);
    await sleep(Math.min(wait, Math.max(1, deadline() - performance.now())));
  }
  return out;
}

/** The longest wait between two polls of the confirm loop. */
const MAX_POLL_MS = 25;
/** Polls of many targets are at least this many ms per target apart (300 targets: 60 ms). */
const POLL_MS_PER_TARGET = 0.2;
/** The confirm wait never lasts longer than this many confirmTimeoutMs after the sweep. */
const MAX_WAIT_FACTOR = 5;

/**
 * Kills one container through its cgroup and waits (up to confirmTimeoutMs)
 * until its cgroup is empty (or only holds dead, exiting or doomed processes: see killState) or gone.
 * `initPid` is the container's State.Pid from `inspect`.
 */
export async function killViaCgroup(id: string, initPid: number, opts: CgroupKillOptions): Promise<CgroupKillResult> {
  return (await killManyViaCgroup([{ id, initPid }], opts)).get(id)!;
}
