import { describe, expect, it } from 'vitest';
import { RUN_END_PROGRESS, runProgress } from '../../core/history/run-progress.js';

describe('runProgress', () => {
  it('orders a run\'s events as they happen: each attempt\'s wait, start and end, then the next; a skip after all', () => {
    const order = [
      runProgress('waited', 0),
      runProgress('started', 1),
      runProgress('finished', 1),
      runProgress('waited', 1),
      runProgress('started', 2),
      runProgress('finished', 2),
      runProgress('started', 25),
      runProgress('skipped', 0),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(new Set(order).size).toBe(order.length);
    // A queued record (attempt 0, ended nothing) is behind every event: 3 * 0 + 2.
    expect(Math.min(...order)).toBeGreaterThan(2);
    expect(runProgress('skipped', 7)).toBe(RUN_END_PROGRESS);
    // The end is a whole number both sides read exactly (Lua's numbers are doubles).
    expect(Number.isSafeInteger(RUN_END_PROGRESS - 1)).toBe(true);
    expect(String(RUN_END_PROGRESS)).toBe('9007199254740992');
  });
});
