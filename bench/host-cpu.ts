import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU accounting the containers benchmark reads from /proc (Linux, local
 * Docker engine only; every reader returns null elsewhere): how busy the
 * host is, and how much CPU Docker's own processes spend on the bench's
 * containers, so a figure can say what bounds it.
 */

const TICK_S = 0.01; // USER_HZ is 100 on every Linux this runs on

/** utime + stime (+ reaped children's, when `children`) of a process, in seconds; null when gone. */
function processCpu(pid: number, children: boolean): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) * TICK_S;
  } catch {
    return null;
  }
}

function pidsByComm(test: (comm: string) => boolean): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (test(readFileSync(`/proc/${d}/comm`, 'utf8').trim())) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds used so far by dockerd and containerd (with the children they reaped: shim launchers), or null. */
export function dockerDaemonsCpu(): number | null {
  const pids = pidsByComm((c) => c === 'dockerd' || c === 'containerd');
  if (pids.length === 0) return null;
  return pids.reduce((s, p) => s + (processCpu(p, true) ?? 0), 0);
}

/**
 * CPU seconds used by the containerd shims of these containers, including
 * the runc processes each shim ran and reaped (create, start): what starting
 * them cost outside dockerd and containerd. Null when no shim is found.
 */
export function shimsCpu(containerIds: Iterable<string>): number | null {
  const ids = new Set(containerIds);
  let total = 0;
  let found = 0;
  for (const pid of pidsByComm((c) => c.startsWith('containerd-shim'))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const id = args[args.indexOf('-id') + 1];
      if (!id || !ids.has(id)) continue;
      total += processCpu(pid, true) ?? 0;
      found++;
    } catch {
      // gone meanwhile
    }
  }
  return found > 0 ? total : null;
}

/** Busy and total jiffies of the whole host (iowait counts as idle). */
function hostTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - v[3]! - v[4]!, total };
  } catch {
    return null;
  }
}

/**
 * Waits (at most `maxMs`) until dockerd and containerd are quiet: under
 * `quietCores` of CPU over a `windowMs` window. After a spawn or a cleanup
 * they go on handling events for a while; an analysis measured meanwhile
 * would measure the bench's own aftermath. Returns how long it waited and
 * how busy the whole host was (share of all cores) in the last window.
 */
export async function settleDocker(opts: { maxMs?: number; windowMs?: number; quietCores?: number } = {}): Promise<{ waitedMs: number; hostBusy: number | null; quiet: boolean }> {
  const maxMs = opts.maxMs ?? 10_000;
  const windowMs = opts.windowMs ?? 500;
  const quietCores = opts.quietCores ?? 0.1;
  const t0 = performance.now();
  for (;;) {
    const d0 = dockerDaemonsCpu();
    const h0 = hostTicks();
    await new Promise((r) => setTimeout(r, windowMs));
    const d1 = dockerDaemonsCpu();
    const h1 = hostTicks();
    const hostBusy = h0 && h1 && h1.total > h0.total ? (h1.busy - h0.busy) / (h1.total - h0.total) : null;
    const quiet = d0 === null || d1 === null || (d1 - d0) / (windowMs / 1000) < quietCores;
    const waitedMs = performance.now() - t0;
    if (quiet || waitedMs >= maxMs) return { waitedMs, hostBusy, quiet };
  }
}
