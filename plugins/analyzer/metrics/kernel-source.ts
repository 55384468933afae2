import { errorMessage } from '../../../core/util/error-message.js';
import { readFile } from 'node:fs/promises';
import { sleep } from '../../../core/util/sleep.js';
import type { ContainerSample, MetricSource, SampleOptions } from './metric-source.js';

/** Where the tideflow_sysinfo kernel module (kernel/) publishes its JSON. */
export const SYSINFO_PATH = '/proc/tideflow_sysinfo';

/** One process as the module reports it (see kernel/README.md). */
export interface SysinfoProcess {
  /** Thread-group id in the initial PID namespace. */
  pid: number;
  /** The same process's pid inside its own (active) PID namespace. */
  ns_pid: number;
  /** True when that namespace is not the initial one. */
  in_pid_ns: boolean;
  comm: string;
  rss_kb: number;
  /** CPU time of all threads, live and exited, in ns. */
  cpu_ns: number;
  threads: number;
  cgroup: string;
  /** 64-hex container id, or null (only with list_all or a match string without an id). */
  container_id: string | null;
  runtime: string | null;
}

export interface SysinfoMemory {
  total_kb: number;
  free_kb: number;
  available_kb: number;
  used_kb: number;
}

/** One reading of /proc/tideflow_sysinfo. */
export interface SysinfoSnapshot {
  version: number;
  kernel: string;
  /** CLOCK_MONOTONIC when the snapshot was taken, ns. */
  timestamp_ns: number;
  boottime_ns: number;
  list_all: boolean;
  truncated: boolean;
  memory: SysinfoMemory;
  process_count: number;
  processes: SysinfoProcess[];
}

/** What one container uses in one reading (sum over its processes). */
export interface ContainerUsage {
  id: string;
  pids: number[];
  rssKb: number;
  cpuNs: number;
}

const ID_RE = /^[0-9a-f]{64}$/;

function fail(what: string): never {
  throw new Error(`tideflow_sysinfo: ${what}`);
}

function num(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${where}.${key} is not a non-negative number`);
  return v;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${where}.${key} is not a string`);
  return v;
}

function bool(o: Record<string, unknown>, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${where}.${key} is not a boolean`);
  return v;
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${where} is not an object`);
  return v as Record<string, unknown>;
}

/**
 * Parses and validates the text of /proc/tideflow_sysinfo (format version 1).
 * Throws on anything that is not a complete, well-formed reading, e.g. a
 * truncated read. Pure: no I/O.
 */
export function parseSysinfo(text: string): SysinfoSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(`not JSON (${errorMessage(e)})`);
  }
  const o = obj(raw, 'document');
  const version = num(o, 'version', 'document');
  if (version !== 1) fail(`unsupported format version ${version}`);
  const m = obj(o.memory, 'memory');
  if (!Array.isArray(o.processes)) fail('processes is not an array');
  const processes = o.processes.map((v, i): SysinfoProcess => {
    const where = `processes[${i}]`;
    const p = obj(v, where);
    const id = p.container_id;
    if (id !== null && (typeof id !== 'string' || !ID_RE.test(id))) fail(`${where}.container_id is not null or 64 hex digits`);
    const runtime = p.runtime;
    if (runtime !== null && typeof runtime !== 'string') fail(`${where}.runtime is not null or a string`);
    return {
      pid: num(p, 'pid', where),
      ns_pid: num(p, 'ns_pid', where),
      in_pid_ns: bool(p, 'in_pid_ns', where),
      comm: str(p, 'comm', where),
      rss_kb: num(p, 'rss_kb', where),
      cpu_ns: num(p, 'cpu_ns', where),
      threads: num(p, 'threads', where),
      cgroup: str(p, 'cgroup', where),
      container_id: id,
      runtime,
    };
  });
  const processCount = num(o, 'process_count', 'document');
  if (processCount !== processes.length) fail(`process_count ${processCount} but ${processes.length} processes`);
  return {
    version,
    kernel: str(o, 'kernel', 'document'),
    timestamp_ns: num(o, 'timestamp_ns', 'document'),
    boottime_ns: num(o, 'boottime_ns', 'document'),
    list_all: bool(o, 'list_all', 'document'),
    truncated: bool(o, 'truncated', 'document'),
    memory: {
      total_kb: num(m, 'total_kb', 'memory'),
      free_kb: num(m, 'free_kb', 'memory'),
      available_kb: num(m, 'available_kb', 'memory'),
      used_kb: num(m, 'used_kb', 'memory'),
    },
    process_count: processCount,
    processes,
  };
}

/** Groups a reading's processes by container id (processes without one are skipped). */
export function usageByContainer(snap: SysinfoSnapshot): Map<string, ContainerUsage> {
  const out = new Map<string, ContainerUsage>();
  for (const p of snap.processes) {
    if (!p.container_id) continue;
    let u = out.get(p.container_id);
    if (!u) out.set(p.container_id, (u = { id: p.container_id, pids: [], rssKb: 0, cpuNs: 0 }));
    u.pids.push(p.pid);
    u.rssKb += p.rss_kb;
    u.cpuNs += p.cpu_ns;
  }
  return out;
}

/**
 * CPU time a container used between two readings, in ns. Matched per pid so
 * that processes that exit during the window do not make the sum drop: a
 * process present in both readings counts its increase; a process only in
 * the second reading started (or joined) during the window and counts fully;
 * a pid whose counter went backwards was reused and counts fully as well.
 * Time of processes that exited during the window is lost (as with any
 * per-process source).
 */
export function containerCpuDeltaNs(prev: SysinfoSnapshot, next: SysinfoSnapshot, id: string): number {
  const before = new Map<number, number>();
  for (const p of prev.processes) if (p.container_id === id) before.set(p.pid, p.cpu_ns);
  let delta = 0;
  for (const p of next.processes) {
    if (p.container_id !== id) continue;
    const b = before.get(p.pid);
    delta += b !== undefined && b <= p.cpu_ns ? p.cpu_ns - b : p.cpu_ns;
  }
  return delta;
}

/** Percent of one core a container used between two readings (null if no time passed). */
export function containerCpuPercent(prev: SysinfoSnapshot, next: SysinfoSnapshot, id: string): number | null {
  const wall = next.timestamp_ns - prev.timestamp_ns;
  if (!(wall > 0)) return null;
  return (100 * containerCpuDeltaNs(prev, next, id)) / wall;
}

/**
 * Builds the samples for the given ids from two readings: CPU% over the
 * window between them (kernel monotonic timestamps), memory as the RSS sum of
 * the container's processes in the second reading. Pure.
 */
export function samplesFromReadings(prev: SysinfoSnapshot, next: SysinfoSnapshot, containerIds: string[]): Map<string, ContainerSample> {
  const out = new Map<string, ContainerSample>();
  const usage = usageByContainer(next);
  for (const requested of containerIds) {
    const id = requested.toLowerCase();
    const u = usage.get(id);
    if (!u) {
      out.set(requested, {
        id: requested,
        cpuPct: null,
        memBytes: null,
        error: `no processes of ${id.slice(0, 12)} in ${SYSINFO_PATH} (not running on this host, or its cgroup layout is not recognised)`,
      });
      continue;
    }
    const cpuPct = containerCpuPercent(prev, next, id);
    out.set(requested, {
      id: requested,
      cpuPct,
      memBytes: u.rssKb * 1024,
      ...(cpuPct === null ? { error: 'cpu: the two readings have the same timestamp' } : {}),
    });
  }
  return out;
}

export interface KernelSourceOptions {
  /** The module's file; injectable so tests can use captured readings. */
  path?: string;
  /** Waits between the two readings (tests replace it). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Container CPU/memory from the tideflow_sysinfo kernel module
 * (/proc/tideflow_sysinfo): one read lists every containerised process of the
 * host with its container id, so any number of containers costs two reads.
 * CPU% (of one core) = 100 × Δcpu_ns / Δwall_ns over two readings `windowMs`
 * apart; memory = summed RSS of the container's processes (resident memory,
 * not the cgroup's page cache, so it can differ from Docker's figure).
 */
export class KernelMetricSource implements MetricSource {
  readonly name = 'kernel' as const;
  private readonly path: string;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(opts: KernelSourceOptions = {}) {
    this.path = opts.path ?? SYSINFO_PATH;
    this.sleep = opts.sleep ?? sleep;
  }

  /** One reading of the module's file. */
  async read(): Promise<SysinfoSnapshot> {
    return parseSysinfo(await readFile(this.path, 'utf8'));
  }

  /** True when the file exists and holds a well-formed reading. */
  async available(): Promise<boolean> {
    try {
      await this.read();
      return true;
    } catch {
      return false;
    }
  }

  async sample(containerIds: string[], opts: SampleOptions): Promise<Map<string, ContainerSample>> {
    let prev: SysinfoSnapshot;
    let next: SysinfoSnapshot;
    try {
      prev = await this.read();
      await this.sleep(opts.windowMs, opts.signal);
      next = await this.read();
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const error = `kernel: ${errorMessage(e)}`;
      return new Map(containerIds.map((id) => [id, { id, cpuPct: null, memBytes: null, error }]));
    }
    return samplesFromReadings(prev, next, containerIds);
  }
}
