/** Durations as written in workflow files: "500ms", "10s", "1m", "2h", "1d". */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$';
const RE = new RegExp(DURATION_PATTERN);
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration string, or undefined if it is not one. */
export function tryParseDuration(text: string): number | undefined {
  const m = RE.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2] as keyof typeof UNIT_MS;
  const ms = Math.round(parseFloat(text) * UNIT_MS[unit]);
  return Number.isFinite(ms) ? ms : undefined;
}

export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) throw new Error(`"${text}" is not a duration like 500ms, 10s, 1m, 1h`);
  return ms;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
