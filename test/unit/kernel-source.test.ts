import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  containerCpuDeltaNs,
  containerCpuPercent,
  KernelMetricSource,
  parseSysinfo,
  samplesFromReadings,
  usageByContainer,
  type SysinfoSnapshot,
} from '../../plugins/analyzer/metrics/kernel-source.js';

// Real readings of /proc/tideflow_sysinfo captured in the qemu guest by
// kernel/test/run-qemu-test.sh (--update-fixtures), about 1 s apart.
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/kernel');
const F1 = path.join(FIXTURES, 'sysinfo-1.json');
const F2 = path.join(FIXTURES, 'sysinfo-2.json');

// The guest's container ids: sha256("tideflow-c<n>") (see run-qemu-test.sh).
const id = (n: number) => createHash('sha256').update(`tideflow-c${n}`).digest('hex');
const SPINNER = id(1); // docker systemd scope, 2 busy threads
const ALLOC = id(2); // docker cgroupfs, 24 MiB touched
const SLEEPER = id(4); // docker cgroupfs on a cgroup v1 hierarchy, sleep
const PODMAN = id(5);
const MISSING = 'f'.repeat(64);

let s1: SysinfoSnapshot;
let s2: SysinfoSnapshot;
let dir: string;

beforeEach(async () => {
  s1 = parseSysinfo(await readFile(F1, 'utf8'));
  s2 = parseSysinfo(await readFile(F2, 'utf8'));
  dir = await mkdtemp(path.join(tmpdir(), 'tf-kernel-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Sum over a container's processes straight from the fixture objects. */
function expectedPct(id: string): number {
  const sum = (s: SysinfoSnapshot) => s.processes.filter((p) => p.container_id === id).reduce((a, p) => a + p.cpu_ns, 0);
  return (100 * (sum(s2) - sum(s1))) / (s2.timestamp_ns - s1.timestamp_ns);
}

describe('parseSysinfo (real guest readings)', () => {
  it('parses the header, memory and processes', () => {
    expect(s1.version).toBe(1);
    expect(s1.kernel).toMatch(/^6\.1\./);
    expect(s2.timestamp_ns).toBeGreaterThan(s1.timestamp_ns);
    expect(s1.memory.total_kb).toBeGreaterThan(100_000);
    expect(s1.memory.used_kb).toBe(s1.memory.total_kb - s1.memory.available_kb);
    expect(s1.processes).toHaveLength(s1.process_count);
    expect(s1.list_all).toBe(false);
  });

  it('keeps escaped comm and cgroup bytes as decoded strings', () => {
    expect(s1.processes.some((p) => p.comm === 'q"\\\u0001\n\ufffd\u00e9\ufffd\ufffdz')).toBe(true);
    expect(s1.processes.some((p) => p.cgroup.endsWith('/we"ird\\na\tme\ufffd') && p.container_id === id(8))).toBe(true);
  });

  it('rejects non-JSON, truncated reads and wrong shapes', () => {
    expect(() => parseSysinfo('')).toThrow(/not JSON/);
    const text = JSON.stringify(s1);
    expect(() => parseSysinfo(text.slice(0, text.length / 2))).toThrow(/not JSON/);
    expect(() => parseSysinfo(JSON.stringify({ ...s1, version: 2 }))).toThrow(/version/);
    expect(() => parseSysinfo(JSON.stringify({ ...s1, process_count: 1 }))).toThrow(/process_count/);
    const bad = { ...s1, processes: s1.processes.map((p, i) => (i === 0 ? { ...p, container_id: 'abc' } : p)) };
    expect(() => parseSysinfo(JSON.stringify(bad))).toThrow(/container_id/);
  });
});

describe('mapping processes to containers', () => {
  it('groups processes by container id and sums RSS and CPU', () => {
    const u = usageByContainer(s2);
    expect(u.get(SPINNER)!.pids.length).toBeGreaterThanOrEqual(2);
    expect(u.get(ALLOC)!.rssKb).toBeGreaterThanOrEqual(24 * 1024);
    // 200 sleepers + a process in a deep sub-cgroup of the same container
    expect(u.get(id(10))!.pids.length).toBeGreaterThanOrEqual(202);
    const podman = s2.processes.filter((p) => p.container_id === PODMAN);
    expect(u.get(PODMAN)!.cpuNs).toBe(podman.reduce((a, p) => a + p.cpu_ns, 0));
    // the match-string group without an id is not a container here
    expect([...u.keys()].every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
  });

  it('computes CPU% per pid across the two readings', () => {
    expect(containerCpuPercent(s1, s2, SPINNER)).toBeCloseTo(expectedPct(SPINNER), 6);
    expect(containerCpuPercent(s1, s2, SPINNER)!).toBeGreaterThan(50);
    expect(containerCpuPercent(s1, s2, SLEEPER)!).toBeLessThan(5);
    expect(containerCpuPercent(s1, s1, SPINNER)).toBeNull();
  });

  it('counts new and reused pids fully and ignores exited ones', () => {
    const proc = s2.processes.find((p) => p.container_id === SLEEPER)!;
    const born = { ...proc, pid: 999_999, cpu_ns: 5_000_000 };
    const next = { ...s2, processes: [...s2.processes, born] };
    expect(containerCpuDeltaNs(s1, next, SLEEPER)).toBe(containerCpuDeltaNs(s1, s2, SLEEPER) + 5_000_000);
    const reused = { ...s2, processes: s2.processes.map((p) => (p.pid === proc.pid ? { ...p, cpu_ns: 1 } : p)) };
    const before = s1.processes.find((p) => p.pid === proc.pid)!.cpu_ns;
    expect(before).toBeGreaterThan(1);
    expect(containerCpuDeltaNs(s1, reused, SLEEPER)).toBe(containerCpuDeltaNs(s1, s2, SLEEPER) - (proc.cpu_ns - before) + 1);
    const exited = { ...s2, processes: s2.processes.filter((p) => p.pid !== proc.pid) };
    expect(containerCpuDeltaNs(s1, exited, SLEEPER)).toBe(containerCpuDeltaNs(s1, s2, SLEEPER) - (proc.cpu_ns - before));
  });

  it('samplesFromReadings gives null figures and an error for unknown ids', () => {
    const m = samplesFromReadings(s1, s2, [SPINNER, MISSING, ALLOC.toUpperCase()]);
    expect(m.get(MISSING)).toMatchObject({ cpuPct: null, memBytes: null, error: expect.stringMatching(/no processes/) });
    expect(m.get(ALLOC.toUpperCase())!.memBytes).toBe(usageByContainer(s2).get(ALLOC)!.rssKb * 1024);
  });
});

describe('KernelMetricSource', () => {
  it('is available when the file parses, not when it is missing or garbage', async () => {
    const file = path.join(dir, 'tideflow_sysinfo');
    await copyFile(F1, file);
    expect(await new KernelMetricSource({ path: file }).available()).toBe(true);
    expect(await new KernelMetricSource({ path: path.join(dir, 'nope') }).available()).toBe(false);
    await writeFile(file, '{"version":1,');
    expect(await new KernelMetricSource({ path: file }).available()).toBe(false);
  });

  it('samples two real readings taken windowMs apart', async () => {
    const file = path.join(dir, 'tideflow_sysinfo');
    await copyFile(F1, file);
    const waits: number[] = [];
    const src = new KernelMetricSource({
      path: file,
      // the "window": the file changes to the second reading meanwhile
      sleep: async (ms) => {
        waits.push(ms);
        await copyFile(F2, file);
      },
    });
    expect(src.name).toBe('kernel');
    const ids = [SPINNER, ALLOC, SLEEPER, MISSING];
    const out = await src.sample(ids, { windowMs: 1000 });
    expect(waits).toEqual([1000]);
    expect([...out.keys()]).toEqual(ids);
    expect(out.get(SPINNER)!.cpuPct).toBeCloseTo(expectedPct(SPINNER), 6);
    expect(out.get(SPINNER)!.cpuPct!).toBeGreaterThan(50);
    expect(out.get(SLEEPER)!.cpuPct!).toBeLessThan(5);
    expect(out.get(SPINNER)!.error).toBeUndefined();
    const alloc = s2.processes.filter((p) => p.container_id === ALLOC).reduce((a, p) => a + p.rss_kb, 0);
    expect(out.get(ALLOC)!.memBytes).toBe(alloc * 1024);
    expect(out.get(ALLOC)!.memBytes!).toBeGreaterThanOrEqual(24 * 1024 * 1024);
    expect(out.get(MISSING)).toMatchObject({ id: MISSING, cpuPct: null, memBytes: null });
  });

  it('reports an error for every id when the file cannot be read', async () => {
    const src = new KernelMetricSource({ path: path.join(dir, 'nope'), sleep: async () => {} });
    const out = await src.sample([SPINNER], { windowMs: 10 });
    expect(out.get(SPINNER)).toMatchObject({ cpuPct: null, memBytes: null, error: expect.stringMatching(/^kernel: /) });
  });

  it('rethrows when aborted', async () => {
    const file = path.join(dir, 'tideflow_sysinfo');
    await copyFile(F1, file);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(new KernelMetricSource({ path: file }).sample([SPINNER], { windowMs: 1000, signal: ac.signal })).rejects.toThrow('stop');
  });
});
