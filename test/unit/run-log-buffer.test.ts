import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { teeToJobLog } from '../../core/runner/job-log-tee.js';
import { RunLogBuffer, runLogLine } from '../../core/runner/run-log-buffer.js';

afterEach(() => {
  vi.useRealTimers();
});

function recorder() {
  const writes: Array<{ lines: string[]; logged: number }> = [];
  return { writes, write: async (lines: string[], logged: number) => void writes.push({ lines, logged }) };
}

describe('RunLogBuffer', () => {
  it('writes nothing for an attempt that logs nothing', async () => {
    const { writes, write } = recorder();
    await new RunLogBuffer({ attempt: 1, write }).close();
    expect(writes).toEqual([]);
  });

  it('batches: 2,000 lines logged at once are one write of the newest 500, counting all 2,000', async () => {
    vi.useFakeTimers();
    const { writes, write } = recorder();
    const buf = new RunLogBuffer({ attempt: 2, write, now: () => 1000 });
    const log = teeToJobLog(pino({ level: 'silent' }), async () => undefined, buf.sink);
    for (let i = 1; i <= 2000; i++) log.info({ i }, `line ${i}`);
    expect(writes).toEqual([]); // the plugin never waited on a write
    await vi.advanceTimersByTimeAsync(250);
    expect(writes).toHaveLength(1);
    expect(writes[0]!.logged).toBe(2000);
    expect(writes[0]!.lines).toHaveLength(500);
    expect(JSON.parse(writes[0]!.lines[0]!)).toEqual({ t: 1000, level: 'info', attempt: 2, msg: 'line 1501', fields: { i: 1501 } });
    expect(JSON.parse(writes[0]!.lines[499]!).msg).toBe('line 2000');
    await buf.close();
    expect(writes).toHaveLength(1);
  });

  it('writes at most every 250 ms while the attempt runs, in order, then the rest on close; nothing after close', async () => {
    vi.useFakeTimers();
    const { writes, write } = recorder();
    const buf = new RunLogBuffer({ attempt: 1, write });
    buf.sink('info', ['a'], {});
    await vi.advanceTimersByTimeAsync(100);
    buf.sink('info', ['b'], {});
    expect(writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(150);
    expect(writes.map((w) => w.lines.map((l) => JSON.parse(l).msg))).toEqual([['a', 'b']]);
    buf.sink('warn', [{ n: 1 }, 'c'], { job: 'x' });
    await buf.close();
    buf.sink('info', ['late'], {});
    await vi.advanceTimersByTimeAsync(1000);
    expect(writes.map((w) => w.lines.map((l) => JSON.parse(l).msg))).toEqual([['a', 'b'], ['c']]);
    expect(JSON.parse(writes[1]!.lines[0]!).fields).toEqual({ job: 'x', n: 1 });
  });

  it('a failed write is reported, not thrown, and later lines still go', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const got: string[][] = [];
    const buf = new RunLogBuffer({
      attempt: 1,
      write: async (lines) => {
        if (fail) throw new Error('redis gone');
        got.push(lines);
      },
      onError: (e) => errors.push(e),
    });
    buf.sink('info', ['lost'], {});
    await buf.flush();
    fail = false;
    buf.sink('info', ['kept'], {});
    await buf.close();
    expect(errors.map(String)).toEqual(['Error: redis gone']);
    expect(got.map((l) => l.map((x) => JSON.parse(x).msg))).toEqual([['kept']]);
  });
});

describe('runLogLine', () => {
  it('keeps a short line whole, with time, level, attempt, message and fields', () => {
    expect(JSON.parse(runLogLine('error', [{ err: new Error('boom') }, 'kill %s failed', 'c1'], {}, 3, 42, 2048))).toEqual({
      t: 42, level: 'error', attempt: 3, msg: 'kill c1 failed', fields: { err: 'boom' },
    });
  });

  it('cuts a long line to the cap (escaping included), saying its original size', () => {
    const line = runLogLine('info', [{ s: '"\n'.repeat(3000) }, 'quoted'], {}, 1, 1, 2048);
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(2048);
    const parsed = JSON.parse(line);
    expect(parsed.truncated).toBe(Buffer.byteLength(runLogLine('info', [{ s: '"\n'.repeat(3000) }, 'quoted'], {}, 1, 1, 1e9)));
    expect(parsed.msg.startsWith('quoted {"s":"\\"\\n')).toBe(true);
    const multibyte = JSON.parse(runLogLine('info', ['é'.repeat(5000)], {}, 1, 1, 2048));
    expect(multibyte.msg).toMatch(/^é+…$/);
  });

  it('never throws on a field JSON cannot write', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(JSON.parse(runLogLine('info', [cyclic, 'x'], {}, 1, 1, 2048)).fields.unserializable).toMatch(/circular/i);
  });
});
