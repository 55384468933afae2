import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killManyViaCgroup, killViaCgroup } from '../../plugins/analyzer/cgroup-killer.js';
import type { CgroupLayout } from '../../plugins/analyzer/metrics/cgroup-paths.js';

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
    const root = tree(v1, ID, [first.pid]);
    const late = child();
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 5000, pollMs: 1000 });
    expect(await exited(first)).toBe('SIGKILL');
    appendFileSync(path.join(root, 'pids', 'docker', ID, 'cgroup.procs'), `${late.pid}\n`);
    expect(await done).toMatchObject({ ok: true, pids: 2 });
    expect(await exited(late)).toBe('SIGKILL');
  });

  it('a group that never empties times out (the caller then asks Docker), and a PID it may not signal stays unsignalled', async () => {
    const first = child();
    const root = tree(v1, ID, [first.pid]);
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 300, pollMs: 200 });
    expect(await exited(first)).toBe('SIGKILL');
    // This very process (never signalled) shows up in the group: it stays alive, so the group never empties.
    appendFileSync(path.join(root, 'pids', 'docker', ID, 'cgroup.procs'), `${process.pid}\n`);
    expect(await done).toMatchObject({ ok: false, reason: expect.stringMatching(/still alive/), signalled: 1 });
  });

  it('a sub-group that appears after the sweep is listed again, and its processes signalled', async () => {
    const first = child();
    const root = tree(v1, ID, [first.pid]);
    const late = child();
    const done = killViaCgroup(ID, first.pid, { root, layout: v1, confirmTimeoutMs: 5000, pollMs: 1000 });
    expect(await exited(first)).toBe('SIGKILL');
    const sub = path.join(root, 'pids', 'docker', ID, 'nested');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'cgroup.procs'), `${late.pid}\n`);
    expect(await done).toMatchObject({ ok: true, pids: 2 });
    expect(await exited(late)).toBe('SIGKILL');
  });
});
