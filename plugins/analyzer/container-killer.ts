import type Docker from 'dockerode';
import { NonRetryableError } from '../../core/plugin/errors.js';
import { LABELS } from '../shared/containers/container-labels.js';
import { mapBounded } from '../../core/util/map-bounded.js';
import { isRemovalInProgress, statusCode } from '../shared/containers/docker-errors.js';
import { errorMessage } from '../../core/util/error-message.js';
import { killManyViaCgroup, type CgroupKillTarget } from './cgroup-killer.js';
import { DEFAULT_CGROUP_ROOT, detectCgroupLayout, hasDockerParent, type CgroupLayout } from './metrics/cgroup-paths.js';
import { isLocalEngine } from '../shared/containers/docker-engine.js';

export type KillMethod = 'auto' | 'cgroup' | 'docker';

export interface KillTarget {
  id: string;
  labels: Record<string, string | undefined>;
}

export interface KillOutcome {
  ok: boolean;
  /** The container was already gone (404) or being removed: counts as done. */
  alreadyGone?: boolean;
  /** How it was killed: SIGKILL through its cgroup, or the Docker API (remove force). */
  method?: 'cgroup' | 'docker';
  /** Why the cgroup path was not used for this container (auto/cgroup methods only). */
  fallback?: string;
  error?: string;
}

export interface KillOptions {
  workflow: string;
  /** Docker API calls (inspect, remove) in flight at once. */
  parallelism: number;
  /** auto (default): cgroup fast path when the engine is local and the cgroup is found, else the Docker API. */
  method?: KillMethod;
  cgroupRoot?: string;
  /** Extra cgroup parents (as for the cgroup metric source). */
  cgroupParents?: string[];
  /** How long the cgroup path waits for the processes to die before falling back to Docker (default 2 s). */
  confirmTimeoutMs?: number;
  /**
   * Inspects started ahead of time (inspectAhead, e.g. during the analyzer's
   * sample window); targets not in it are inspected now.
   */
  inspected?: InspectAhead;
}

/** One settled `inspect` per container id, started ahead of the kill. */
export type InspectAhead = Map<string, Promise<PromiseSettledResult<Docker.ContainerInspectInfo>>>;

/**
 * Starts inspecting `ids` now (at most `parallelism` calls in flight) and
 * returns one promise per id, each settled as soon as its own call returns;
 * none rejects. Read-only: a caller that ends up killing none of them loses
 * nothing but the calls. The kill path re-checks what it reads (id, running,
 * paused, init PID among the cgroup's PIDs), so a container that died,
 * restarted or was paused since is still handled safely (see killContainers).
 */
export function inspectAhead(docker: Docker, ids: readonly string[], parallelism = INSPECT_PARALLELISM): InspectAhead {
  const settle = new Map<string, (r: PromiseSettledResult<Docker.ContainerInspectInfo>) => void>();
  const out: InspectAhead = new Map();
  for (const id of new Set(ids)) out.set(id, new Promise((resolve) => settle.set(id, resolve)));
  void mapBounded([...settle.keys()], parallelism, async (id) => {
    try {
      settle.get(id)!({ status: 'fulfilled', value: await docker.getContainer(id).inspect() });
    } catch (reason) {
      settle.get(id)!({ status: 'rejected', reason });
    }
  });
  return out;
}

export interface KillReport {
  outcomes: Map<string, KillOutcome>;
  /** Until every target's processes were dead (or the Docker fallback returned). */
  killMs: number;
  /** Part of killMs: the Docker inspect calls before the cgroup kills (0 for method docker). */
  inspectMs: number;
  /** Removal of cgroup-killed containers that are not AutoRemove (older containers); 0 when there were none. */
  removeMs: number;
  /** Containers killed per method. */
  byMethod: { cgroup: number; docker: number };
}

/**
 * Last line of defence before a kill: the container must be managed by
 * tideflow, belong to this workflow, and not be protected. Labels cannot
 * change after creation, so the listed labels are authoritative.
 */
export function mayKill(t: KillTarget, workflow: string): string | null {
  if (t.labels[LABELS.managed] !== 'true') return 'not managed by tideflow';
  if (t.labels[LABELS.workflow] !== workflow) return `belongs to workflow "${t.labels[LABELS.workflow] ?? ''}"`;
  if (t.labels[LABELS.protected] === 'true') return 'protected';
  return null;
}

/** 404 (gone) or 409 "removal already in progress": someone else is finishing it. */
function isGone(err: unknown): boolean {
  return statusCode(err) === 404 || isRemovalInProgress(err);
}

/** SIGKILL + remove through the Docker API; a container already gone counts as done. */
async function removeViaDocker(docker: Docker, id: string): Promise<KillOutcome> {
  try {
    await docker.getContainer(id).remove({ force: true });
    return { ok: true, method: 'docker' };
  } catch (err) {
    if (isGone(err)) return { ok: true, alreadyGone: true, method: 'docker' };
    return { ok: false, method: 'docker', error: errorMessage(err) };
  }
}

/** Inspect calls are cheap for dockerd (~85 ms for 100 in parallel), unlike kill/remove. */
const INSPECT_PARALLELISM = 64;

/** The cgroup hierarchy to kill through, or why there is none. */
async function cgroupLayoutFor(docker: Docker, root: string, parents: string[]): Promise<CgroupLayout | string> {
  if (!isLocalEngine(docker)) return 'the Docker engine is remote';
  const layout = await detectCgroupLayout(root);
  if (!layout) return `no usable cgroup hierarchy at ${root}`;
  if (!(await hasDockerParent(root, layout, parents))) return `no Docker cgroup parent under ${root}`;
  return layout;
}

/**
 * Kills the targets that pass `mayKill` (the others get a refusal, never a
 * signal).
 *
 * method `docker`: `remove({force:true})` (SIGKILL + remove), bounded in
 * parallel. dockerd serializes these at ~35-75 ms per container, so 95 take
 * ~3.5 s whatever the parallelism.
 *
 * method `auto`/`cgroup`: every target is inspected first (its init PID and
 * whether it is AutoRemove; inspecting after the kills would queue behind
 * dockerd's exit handling), or taken from `opts.inspected` (started ahead of
 * time); then all are SIGKILLed through their own cgroup.procs in one sweep
 * and confirmed dead together (see cgroup-killer.ts for the safety rules). A target whose
 * cgroup is not found, whose processes do not die within `confirmTimeoutMs`,
 * that is paused, or on any error, falls back to the Docker API. `cgroup`
 * differs from `auto` only in that a host where the fast path cannot work at
 * all (remote engine, no cgroup hierarchy) is a configuration error.
 *
 * Containers made by the spawner are AutoRemove: Docker removes them by
 * itself once it notices the exit, so the killer returns as soon as the
 * processes are dead. Older containers (not AutoRemove) are removed through
 * the API within this same call, bounded by `parallelism`: measured, this
 * costs the old ~50 ms per container, but only for containers created
 * before AutoRemove (a one-off), and it must happen now: a dead container
 * is invisible to the next analysis (which lists running ones only), and a
 * background removal would outlive the job (lost on exit, racing the
 * shutdown cleanup, its errors unreported). Its time is reported apart
 * (`removeMs`).
 */
export async function killContainers(docker: Docker, targets: KillTarget[], opts: KillOptions): Promise<KillReport> {
  const t0 = performance.now();
  const method = opts.method ?? 'auto';
  const out = new Map<string, KillOutcome>();
  const allowed: KillTarget[] = [];
  for (const t of targets) {
    const refusal = mayKill(t, opts.workflow);
    if (refusal) out.set(t.id, { ok: false, error: `refused to kill: ${refusal}` });
    else allowed.push(t);
  }

  let inspectMs = 0;
  const viaDocker: Array<{ id: string; fallback?: string }> = [];
  const leftovers: string[] = [];
  if (method === 'docker') {
    viaDocker.push(...allowed.map((t) => ({ id: t.id })));
  } else if (allowed.length > 0) {
    const root = opts.cgroupRoot ?? DEFAULT_CGROUP_ROOT;
    const parents = opts.cgroupParents ?? [];
    const layout = await cgroupLayoutFor(docker, root, parents);
    if (typeof layout === 'string') {
      if (method === 'cgroup') throw new NonRetryableError(`killMethod "cgroup": ${layout}`);
      viaDocker.push(...allowed.map((t) => ({ id: t.id, fallback: layout })));
    } else {
      const ti = performance.now();
      // Inspected first, all of them (their init PID, and whether AutoRemove): inspecting after the
      // kills would queue behind dockerd's handling of the exits.
      const missing = allowed.filter((t) => !opts.inspected?.has(t.id));
      const now = missing.length > 0 ? inspectAhead(docker, missing.map((t) => t.id)) : undefined;
      const inspected = await Promise.all(allowed.map((t) => (opts.inspected?.get(t.id) ?? now!.get(t.id))!));
      inspectMs = performance.now() - ti;
      const toSignal: Array<CgroupKillTarget & { autoRemove: boolean }> = [];
      allowed.forEach((t, i) => {
        const r = inspected[i]!;
        if (r.status === 'rejected') {
          if (isGone(r.reason)) out.set(t.id, { ok: true, alreadyGone: true, method: 'cgroup' });
          else viaDocker.push({ id: t.id, fallback: `inspect failed: ${errorMessage(r.reason)}` });
          return;
        }
        const info = r.value;
        const autoRemove = info.HostConfig?.AutoRemove === true;
        if (info.Id !== t.id) return viaDocker.push({ id: t.id, fallback: 'inspect returned another container' });
        if (info.State.Paused) return viaDocker.push({ id: t.id, fallback: 'paused' });
        if (!info.State.Running || !(info.State.Pid > 1)) {
          // Already dead: nothing to signal; Docker removes it if AutoRemove, else we do.
          if (autoRemove) out.set(t.id, { ok: true, alreadyGone: true, method: 'cgroup' });
          else leftovers.push(t.id);
          return;
        }
        toSignal.push({ id: t.id, initPid: info.State.Pid, autoRemove });
      });
      // All signalled in one sweep, their deaths confirmed together.
      const killed = await killManyViaCgroup(toSignal, { root, layout, parents, confirmTimeoutMs: opts.confirmTimeoutMs ?? 2000 });
      for (const t of toSignal) {
        const k = killed.get(t.id)!;
        if (!k.ok) viaDocker.push({ id: t.id, fallback: k.reason });
        else if (t.autoRemove) out.set(t.id, { ok: true, method: 'cgroup', ...(k.alreadyDead ? { alreadyGone: true } : {}) });
        else leftovers.push(t.id);
      }
    }
  }

  const fell = await mapBounded(viaDocker, opts.parallelism, (v) => removeViaDocker(docker, v.id));
  fell.forEach((r, i) => {
    const v = viaDocker[i]!;
    const o: KillOutcome = r.status === 'fulfilled' ? r.value : { ok: false, method: 'docker', error: errorMessage(r.reason) };
    out.set(v.id, v.fallback ? { ...o, fallback: v.fallback } : o);
  });
  const t1 = performance.now();

  const removed = await mapBounded(leftovers, opts.parallelism, (id) => removeViaDocker(docker, id));
  removed.forEach((r, i) => {
    const id = leftovers[i]!;
    const o = r.status === 'fulfilled' ? r.value : { ok: false, error: errorMessage(r.reason) };
    out.set(id, o.ok ? { ok: true, method: 'cgroup' } : { ok: false, method: 'cgroup', error: `processes killed, but removal failed: ${o.error}` });
  });
  const t2 = performance.now();

  const byMethod = { cgroup: 0, docker: 0 };
  for (const o of out.values()) if (o.ok && o.method) byMethod[o.method]++;
  return { outcomes: out, killMs: t1 - t0, inspectMs, removeMs: leftovers.length > 0 ? t2 - t1 : 0, byMethod };
}
