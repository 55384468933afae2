import { describe, expect, it } from 'vitest';
import { AttemptAbort } from '../../core/runner/attempt-abort.js';

/** What ends an attempt: the plugin's own end, or the first abort, whichever comes first. */
describe('AttemptAbort.race', () => {
  it('settles with the plugin\'s value or error when nothing aborts', async () => {
    await expect(new AttemptAbort().race(Promise.resolve(42))).resolves.toBe(42);
    await expect(new AttemptAbort().race('sync value')).resolves.toBe('sync value');
    await expect(new AttemptAbort().race(Promise.reject(new Error('plugin failed')))).rejects.toThrow('plugin failed');
  });

  it('ends with the first abort\'s reason while the plugin never settles; the signal, read later, carries it', async () => {
    const abort = new AttemptAbort();
    const ended = abort.race(new Promise<never>(() => undefined));
    abort.abort(new Error('timed out after 5 ms'));
    abort.abort(new Error('cancelled'));
    await expect(ended).rejects.toThrow('timed out after 5 ms');
    expect(abort.isAborted).toBe(true);
    expect(abort.signal.aborted).toBe(true);
    expect((abort.signal.reason as Error).message).toBe('timed out after 5 ms');
  });

  it('rejects at once when aborted before the race, and a plugin failing afterwards is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const abort = new AttemptAbort();
      abort.abort(new Error('cancelled'));
      let fail!: (err: Error) => void;
      await expect(abort.race(new Promise<never>((_, reject) => (fail = reject)))).rejects.toThrow('cancelled');
      fail(new Error('late plugin error'));
      // Two turns of the event loop: an unhandled rejection would be reported by now.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('gives a plugin that reads its signal one aborted on abort, and the plugin\'s result after an abort is ignored', async () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    let finish!: (v: string) => void;
    const ended = abort.race(new Promise<string>((resolve) => (finish = resolve)));
    abort.abort(new Error('engine shutting down'));
    finish('too late');
    expect(signal.aborted).toBe(true);
    await expect(ended).rejects.toThrow('engine shutting down');
  });
});
