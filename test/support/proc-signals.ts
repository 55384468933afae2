/**
 * Whether a /proc/<pid>/status text shows a SIGKILL pending (signal 9: bit
 * 0x100 of its SigPnd or ShdPnd mask). The tests' own reading of the
 * kernel's format, apart from the killer's (plugins/analyzer/cgroup-killer.ts
 * killState), so each checks the other.
 */
export function sigkillPendingIn(status: string): boolean {
  return [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].some((m) => (BigInt(`0x${m[1]}`) & 0x100n) !== 0n);
}
