import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CgroupMetricSource } from '../../plugins/analyzer/metrics/cgroup-source.js';

const base = mkdtempSync(path.join(tmpdir(), 'tf-cgroup-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const MiB = 1024 * 1024;

function put(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** A fake clock: each reading advances 0 then +1 s at the sleep. */
function fakeTime(onSleep: () => void) {
  let now = 0n;
  return {
    nowNs: () => now,
    sleep: async () => {
      now += 1_000_000_000n;
      onSleep();
    },
  };
}

type Driver = 'cgroupfs' | 'systemd';

function v1Dir(root: string, controller: string, driver: Driver, id: string): string {
  return driver === 'cgroupfs' ? path.join(root, controller, 'docker', id) : path.join(root, controller, 'system.slice', `docker-${id}.scope`);
}

function v2Dir(root: string, driver: Driver, id: string): string {
  return driver === 'cgroupfs' ? path.join(root, 'docker', id) : path.join(root, 'system.slice', `docker-${id}.scope`);
}

/** Builds a fake v1 tree; cpuCtl is how the cpuacct controller is mounted. */
function makeV1(name: string, driver: Driver, cpuCtl: string) {
  const root = path.join(base, name);
  put(path.join(root, cpuCtl, 'cpuacct.usage'), '123\n');
  mkdirSync(path.join(root, 'memory'), { recursive: true });
  const setCpu = (id: string, ns: bigint) => put(path.join(v1Dir(root, cpuCtl, driver, id), 'cpuacct.usage'), `${ns}\n`);
  const setMem = (id: string, usage: number, inactive: number) => {
    const d = v1Dir(root, 'memory', driver, id);
    put(path.join(d, 'memory.usage_in_bytes'), `${usage}\n`);
    put(path.join(d, 'memory.stat'), `cache 100\nrss 200\ninactive_file 5\ntotal_cache 100\ntotal_inactive_file ${inactive}\n`);
  };
  return { root, setCpu, setMem };
}

function makeV2(name: string, driver: Driver) {
  const root = path.join(base, name);
  put(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  mkdirSync(path.join(root, driver === 'cgroupfs' ? 'docker' : 'system.slice'), { recursive: true });
  const setCpu = (id: string, ns: bigint) => put(path.join(v2Dir(root, driver, id), 'cpu.stat'), `usage_usec ${ns / 1000n}\nuser_usec 1\nsystem_usec 2\n`);
  const setMem = (id: string, current: number, inactive: number) => {
    const d = v2Dir(root, driver, id);
    put(path.join(d, 'memory.current'), `${current}\n`);
    put(path.join(d, 'memory.stat'), `anon 100\nfile 200\nactive_file 1\ninactive_file ${inactive}\n`);
  };
  return { root, setCpu, setMem };
}

describe('cgroup metric source', () => {
  const variants = [
    { label: 'v1 cgroupfs (cpuacct alone)', make: () => makeV1('v1-fs', 'cgroupfs', 'cpuacct') },
    { label: 'v1 systemd (cpu,cpuacct co-mounted)', make: () => makeV1('v1-sd', 'systemd', 'cpu,cpuacct') },
    { label: 'v2 cgroupfs', make: () => makeV2('v2-fs', 'cgroupfs') },
    { label: 'v2 systemd', make: () => makeV2('v2-sd', 'systemd') },
  ];

  it.each(variants)('$label: CPU% over the window and memory minus inactive file', async ({ make }) => {
    const t = make();
    t.setCpu(ID_A, 1_000_000_000n);
    t.setCpu(ID_B, 5_000_000n);
    t.setMem(ID_A, 80 * MiB, 16 * MiB);
    t.setMem(ID_B, 2 * MiB, 0);
    const time = fakeTime(() => {
      t.setCpu(ID_A, 1_200_000_000n); // 0.2 s of CPU in 1 s: 20 %
      t.setCpu(ID_B, 5_000_000n); // idle
    });
    const src = new CgroupMetricSource({ root: t.root, ...time });
    expect(await src.available()).toBe(true);
    const s = await src.sample([ID_A, ID_B], { windowMs: 1000 });
    expect(s.get(ID_A)!.cpuPct).toBeCloseTo(20, 6);
    expect(s.get(ID_A)!.memBytes).toBe(64 * MiB);
    expect(s.get(ID_A)!.error).toBeUndefined();
    expect(s.get(ID_B)!.cpuPct).toBe(0);
    expect(s.get(ID_B)!.memBytes).toBe(2 * MiB);
  });

  it('gives null figures and an error for a container that has no cgroup', async () => {
    const t = makeV1('v1-missing', 'cgroupfs', 'cpuacct');
    t.setCpu(ID_A, 1n);
    t.setMem(ID_A, MiB, 0);
    const src = new CgroupMetricSource({ root: t.root, ...fakeTime(() => undefined) });
    const s = await src.sample([ID_A, ID_B], { windowMs: 10 });
    expect(s.get(ID_A)!.cpuPct).toBe(0);
    expect(s.get(ID_B)).toMatchObject({ cpuPct: null, memBytes: null });
    expect(s.get(ID_B)!.error).toMatch(/no cgroup/);
  });

  it('gives null CPU for a container that vanished during the window', async () => {
    const t = makeV2('v2-vanish', 'cgroupfs');
    t.setCpu(ID_A, 1n);
    t.setMem(ID_A, MiB, 0);
    const src = new CgroupMetricSource({ root: t.root, ...fakeTime(() => rmSync(v2Dir(t.root, 'cgroupfs', ID_A), { recursive: true })) });
    const s = await src.sample([ID_A], { windowMs: 10 });
    expect(s.get(ID_A)).toMatchObject({ cpuPct: null, memBytes: null });
  });

  it('finds containers under an extra cgroup parent', async () => {
    const root = path.join(base, 'custom-parent');
    put(path.join(root, 'cgroup.controllers'), 'cpu memory\n');
    const d = path.join(root, 'tideflow.slice', ID_A);
    put(path.join(d, 'cpu.stat'), 'usage_usec 10\n');
    put(path.join(d, 'memory.current'), '4096\n');
    put(path.join(d, 'memory.stat'), 'inactive_file 0\n');
    const src = new CgroupMetricSource({ root, parents: ['tideflow.slice'], ...fakeTime(() => undefined) });
    expect(await src.available()).toBe(true);
    expect((await src.sample([ID_A], { windowMs: 1 })).get(ID_A)!.memBytes).toBe(4096);
  });

  it('is available on a readable hierarchy before Docker has made its parent group (no container started yet)', async () => {
    const root = path.join(base, 'fresh-v1');
    put(path.join(root, 'cpuacct', 'cpuacct.usage'), '0\n');
    mkdirSync(path.join(root, 'memory'), { recursive: true });
    const src = new CgroupMetricSource({ root });
    expect(await src.available()).toBe(true);
    expect((await src.sample([ID_A], { windowMs: 1 })).get(ID_A)!.error).toMatch(/no cgroup v1 cpuacct group/);
  });

  it('is unavailable where there is no cgroup hierarchy', async () => {
    const root = path.join(base, 'nothing');
    mkdirSync(root, { recursive: true });
    const src = new CgroupMetricSource({ root });
    expect(await src.available()).toBe(false);
    const s = await src.sample([ID_A], { windowMs: 1 });
    expect(s.get(ID_A)!.error).toMatch(/no usable cgroup/);
  });

  it('stops waiting when the signal aborts', async () => {
    const t = makeV2('v2-abort', 'cgroupfs');
    t.setCpu(ID_A, 1n);
    t.setMem(ID_A, 1, 0);
    const src = new CgroupMetricSource({ root: t.root });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('timeout')), 20);
    const started = Date.now();
    await expect(src.sample([ID_A], { windowMs: 10_000, signal: ac.signal })).rejects.toThrow(/timeout/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
