import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killManyViaCgroup, killState, killViaCgroup } from '../../plugins/analyzer/cgroup-killer.js';
import type { CgroupLayout } from '../../plugins/analyzer/metrics/cgroup-paths.js';
import { sigkillPendingIn } from '../support/proc-signals.js';

const base = mkdtempSync(path.join(tmpdir(), 'tf-cgkill-'));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const v1: CgroupLayout = { version: 1, cpuDir: 'cpuacct', memDir: 'memory' };
const v2: CgroupLayout = { version: 2 };
let n = 0;

/** A fake cgroup tree whose container group lists the given PIDs (a real child process stands for the container). */
function tree(layout: CgroupLayout, id: string, pids: number[], rel = `docker/${id}`): string {
  const root = path.join(base, `t${n++}`);
  const dir = layout.version === 1 ? path.join(root, 'pids', rel) : path.join(root, rel);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
  return root;
}

function child(): ChildProcess & { pid: number } {
  const c = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(c);
  return c as ChildProcess & { pid: number };
}

const exited = (c: ChildProcess) => new Promise<string | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.signalCode) : c.once('exit', (_code, sig) => r(sig))));
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
const ID = 'c'.repeat(64);

describe('killViaCgroup (fake cgroup tree, real child processes)', () => {
  it.each([
    ['v1 cgroupfs', v1, `docker/${ID}`],
    ['v2 systemd', v2, `system.slice/docker-${ID}.scope`],
  ])('%s: SIGKILLs the PIDs listed in the container cgroup and confirms they died', async (_n, layout, rel) => {
    const c = child();
    const root = tree(layout, ID, [c.pid], rel);
    const r = await killViaCgroup(ID, c.pid, { root, layout, confirmTimeoutMs: 2000 });
    expect(r).toMatchObject({ ok: true, alreadyDead: false, pids: 1 });
    expect(await exited(c)).toBe('SIGKILL');
  });

  it('an empty or missing group is already dead', async () => {
    expect(await killViaCgroup(ID, 1234, { root: tree(v1, ID, []), layout: v1, confirmTimeoutMs: 100 })).toMatchObject({ ok: true, alreadyDead: true });
    const r = await killViaCgroup(ID, 1234, { root: path.join(base, 'none'), layout: v1, confirmTimeoutMs: 100 });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/no cgroup dir/) });
  });

  it('signals nothing when the group lists PID 1, this process, or lacks the container init PID', async () => {
    const c = child();
    for (const [pids, init] of [
      [[1, c.pid], c.pid],
      [[process.pid, c.pid], c.pid],
      [[0, c.pid], c.pid],
      [[c.pid], c.pid + 1_000_000],
    ] as Array<[number[], number]>) {
      const r = await killViaCgroup(ID, init, { root: tree(v1, ID, pids), layout: v1, confirmTimeoutMs: 100 });
      expect(r).toMatchObject({ ok: false, signalled: 0 });
    }
    expect(alive(c)).toBe(true);
  });

  it('refuses ids that are not full 64-hex ids and dirs that do not name the container', async () => {
    const c = child();
    const r = await killViaCgroup('c'.repeat(12), c.pid, { root: tree(v1, 'c'.repeat(12), [c.pid]), layout: v1, confirmTimeoutMs: 100 });
    expect(r).toMatchObject({ ok: false, signalled: 0 });
    expect(alive(c)).toBe(true);
  });

  it('kills many at once in one sweep; a refused target among them is never signalled', async () => {
    const root = path.join(base, `t${n++}`);
    const ids = Array.from({ length: 12 }, (_, i) => i.toString(16).repeat(64));
    const kids = ids.map(() => child());
    ids.forEach((id, i) => {
      const dir = path.join(root, 'pids', 'docker', id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'cgroup.procs'), `${kids[i]!.pid}\n`);
    });
    // Target 3 claims another init PID than its group lists: refused, its process left alone.
    const targets = ids.map((id, i) => ({ id, initPid: i === 3 ? kids[i]!.pid + 1_000_000 : kids[i]!.pid }));
    const r = await killManyViaCgroup(targets, { root, layout: v1, confirmTimeoutMs: 2000 });
    expect(r.size).toBe(12);
    for (const [i, id] of ids.entries()) {
      if (i === 3) expect(r.get(id)).toMatchObject({ ok: false, signalled: 0 });
      else expect(r.get(id)).toMatchObject({ ok: true, alreadyDead: false, pids: 1 });
    }
    await Promise.all(kids.filter((_, i) => i !== 3).map(async (c) => expect(await exited(c)).toBe('SIGKILL')));
    expect(alive(kids[3]!)).toBe(true);
  });

  it('a process that joins the group after the sweep (a fork) is signalled too before the group counts as dead', async () => {
    const first = child();
    // Frozen, the first process keeps its SIGKILL pending: the kill cannot be confirmed before the late one joins.
    const thaw = await freeze(first);
    const root = tree(v1, ID, [first.pid]);
    const late = child();
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 5000, pollMs: 20 });
    await until(() => sigkillPendingIn(readFileSync(`/proc/${first.pid}/status`, 'utf8')));
    appendFileSync(path.join(root, 'pids', 'docker', ID, 'cgroup.procs'), `${late.pid}\n`);
    thaw();
    expect(await done).toMatchObject({ ok: true, pids: 2 });
    expect(await exited(first)).toBe('SIGKILL');
    expect(await exited(late)).toBe('SIGKILL');
  });

  it('a group that never empties times out (the caller then asks Docker), and a PID it may not signal stays unsignalled', async () => {
    const first = child();
    const thaw = await freeze(first);
    const root = tree(v1, ID, [first.pid]);
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 300, pollMs: 20 });
    await until(() => sigkillPendingIn(readFileSync(`/proc/${first.pid}/status`, 'utf8')));
    // This very process (never signalled) shows up in the group: it stays alive, so the group never empties.
    appendFileSync(path.join(root, 'pids', 'docker', ID, 'cgroup.procs'), `${process.pid}\n`);
    thaw();
    expect(await exited(first)).toBe('SIGKILL');
    expect(await done).toMatchObject({ ok: false, reason: expect.stringMatching(/still alive/), signalled: 1 });
  });

  it('a sub-group that appears after the sweep is listed again, and its processes signalled', async () => {
    const first = child();
    const root = tree(v1, ID, [first.pid]);
    const thaw = await freeze(first);
    const late = child();
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 5000, pollMs: 20 });
    await until(() => sigkillPendingIn(readFileSync(`/proc/${first.pid}/status`, 'utf8')));
    const sub = path.join(root, 'pids', 'docker', ID, 'nested');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'cgroup.procs'), `${late.pid}\n`);
    thaw();
    expect(await done).toMatchObject({ ok: true, pids: 2 });
    expect(await exited(first)).toBe('SIGKILL');
    expect(await exited(late)).toBe('SIGKILL');
  });
});

describe('killState (/proc/<pid>/stat and status of a signalled process)', () => {
  /** A /proc/<pid>/stat line: state and flags (field 9) are what matter; the name may hold spaces and parentheses. */
  const stat = (state: string, flags = 4194560) => `4242 (we (ird) name) ${state} 1 4242 4242 0 -1 ${flags} 120 0 0 0 5 3 0 0 20 0 1 0 100 1000000 200`;
  /** The lines of /proc/<pid>/status around the signal masks, as the kernel writes them. */
  const status = (state: string, sigPnd: string, shdPnd: string) =>
    `Name:\tsleep\nUmask:\t0022\nState:\t${state}\nTgid:\t4242\nThreads:\t1\nSigQ:\t1/95000\nSigPnd:\t${sigPnd}\nShdPnd:\t${shdPnd}\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n`;
  const KILL = '0000000000000100';
  const NONE = '0000000000000000';

  it('a zombie, a reaped task and one in do_exit() (PF_EXITING) are dead, whatever their signals', () => {
    expect(killState(stat('Z'))).toBe('dead');
    expect(killState(stat('X'))).toBe('dead');
    expect(killState(stat('R', 4194308))).toBe('dead');
    expect(killState(stat('D', 0x4))).toBe('dead');
  });

  it('a runnable or sleeping task with SIGKILL pending (its own or its group\'s) is doomed', () => {
    expect(killState(stat('R'), status('R (running)', KILL, NONE))).toBe('doomed');
    expect(killState(stat('S'), status('S (sleeping)', NONE, KILL))).toBe('doomed');
    // Other signals pending beside it (SIGTERM 15, SIGCHLD 17) change nothing.
    expect(killState(stat('S'), status('S (sleeping)', '0000000000014100', NONE))).toBe('doomed');
  });

  it('is alive without SIGKILL pending, in uninterruptible sleep (a v1-frozen task) even with it, and when its status is not read', () => {
    expect(killState(stat('S'), status('S (sleeping)', NONE, '0000000000004000'))).toBe('alive');
    expect(killState(stat('D'), status('D (disk sleep)', KILL, KILL))).toBe('alive');
    expect(killState(stat('T'), status('T (stopped)', KILL, NONE))).toBe('alive');
    expect(killState(stat('S'))).toBe('alive');
    // The status is read (through the reader given) only for a runnable or sleeping task.
    const unread = () => {
      throw new Error('status read');
    };
    expect(killState(stat('D'), unread)).toBe('alive');
    expect(killState(stat('Z'), unread)).toBe('dead');
    expect(killState(stat('R'), () => status('R (running)', NONE, KILL))).toBe('doomed');
    expect(killState(stat('S'), 'Name:\tsleep\nSigPnd:\tzzz\n')).toBe('alive');
  });
});

describe('killViaCgroup with the real cgroup v1 freezer', () => {
  it('a frozen container is not counted killed while frozen (SIGKILL pending in D state), and is once thawed', async () => {
    const c = child();
    const thaw = await freeze(c);
    const root = tree(v1, ID, [c.pid]);
    const frozen = await killViaCgroup(ID, c.pid, { root, layout: v1, confirmTimeoutMs: 300, pollMs: 50 });
    expect(frozen).toMatchObject({ ok: false, reason: expect.stringMatching(/1 process\(es\) still alive/), signalled: 1 });
    expect(readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/State:\tD/);
    expect(alive(c)).toBe(true);
    thaw();
    expect(await exited(c)).toBe('SIGKILL');
  });
});

const FREEZER = '/sys/fs/cgroup/freezer';
const frozenGroups: string[] = [];
afterAll(async () => {
  for (const group of frozenGroups) {
    writeFileSync(path.join(group, 'freezer.state'), 'THAWED');
    await until(() => readFileSync(path.join(group, 'cgroup.procs'), 'utf8').trim() === '');
    rmdirSync(group);
  }
});

/**
 * Freezes a child in a real cgroup v1 freezer group of its own (a signal
 * then stays pending until it is thawed); returns the thaw. This kind of
 * machine runs Docker on cgroup v1 (see the platform notes): the freezer
 * must be there.
 */
async function freeze(c: ChildProcess & { pid: number }): Promise<() => void> {
  expect(existsSync(path.join(FREEZER, 'cgroup.procs'))).toBe(true);
  const group = path.join(FREEZER, `tf-test-${process.pid}-${n++}`);
  mkdirSync(group);
  frozenGroups.push(group);
  writeFileSync(path.join(group, 'cgroup.procs'), String(c.pid));
  writeFileSync(path.join(group, 'freezer.state'), 'FROZEN');
  await until(() => readFileSync(path.join(group, 'freezer.state'), 'utf8').trim() === 'FROZEN');
  return () => writeFileSync(path.join(group, 'freezer.state'), 'THAWED');
}

/** Polls `check` every 10 ms until it holds (5 s at most). */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
