import { readFileSync } from 'node:fs';

/** /proc/<pid>/stat: the parent PID and the start time (which tells a reused PID apart). */
function procStat(pid: number): { ppid: number; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), startTime: rest[19]! };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * The `npm exec` / `npx` process that launched us, if any. npm exec runs the
 * command through `sh -c` and, sent SIGTERM (a supervisor stopping the
 * service), exits without passing the signal on: the engine would run on as
 * an orphan. Returns its PID and start time so its end can be noticed.
 */
export function findNpmExecLauncher(env: NodeJS.ProcessEnv = process.env): { pid: number; startTime: string } | undefined {
  if (env.npm_command !== 'exec') return undefined;
  // Up through the `sh -c` npm exec runs the command with, to npm itself; anything else in between is not npm exec's doing.
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    const stat = procStat(pid);
    if (!stat) return undefined;
    const cmd = cmdline(pid);
    if (/\bnp[mx](-cli\.js)?\b/.test(cmd)) return { pid, startTime: stat.startTime };
    if (!/^(\S*\/)?(sh|dash|bash) /.test(cmd)) return undefined;
    pid = stat.ppid;
  }
  return undefined;
}

/**
 * Calls `onGone` once when the npm exec launcher exits (polled every
 * `everyMs`), so `npx tideflow start` stopped by its supervisor still shuts
 * the engine down gracefully. Returns a stop function; does nothing when not
 * launched by npm exec.
 */
export function watchNpmExecLauncher(onGone: (pid: number) => void, everyMs = 500): { launcherPid?: number; stop: () => void } {
  const launcher = findNpmExecLauncher();
  if (!launcher) return { stop: () => undefined };
  const timer = setInterval(() => {
    if (procStat(launcher.pid)?.startTime === launcher.startTime) return;
    clearInterval(timer);
    onGone(launcher.pid);
  }, everyMs);
  timer.unref();
  return { launcherPid: launcher.pid, stop: () => clearInterval(timer) };
}
