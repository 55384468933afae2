import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { OverlapGuard, type Admission, type AdmissionRequest } from '../../core/runner/overlap-guard.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/test-engine.js';

/**
 * The admission script's edge cases against a real Redis, with short leases:
 * what the end-to-end tests (overlap-policy, concurrency-limits) cannot time.
 */
const redis = testRedis();
const listener = redis.duplicate();
const prefixes: string[] = [];
let keys: EngineKeys;
const heard: string[] = [];
listener.on('message', (_c: string, m: string) => heard.push(m));

afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  listener.disconnect();
  await redis.quit();
});

beforeEach(async () => {
  const prefix = uniquePrefix('guard');
  prefixes.push(prefix);
  keys = new EngineKeys(prefix);
  heard.length = 0;
  await listener.subscribe(keys.cancelChannel);
});

const LEASE_MS = 300;
const CANCEL_WAIT_MS = 500;
const guard = () => new OverlapGuard(redis, keys, LEASE_MS, CANCEL_WAIT_MS);
const fire = (t: number, mode: AdmissionRequest['mode'], extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  workflow: 'wf', jobKey: 'wf/j', runId: `wf.j.${t}`, mode, trackJob: true, handOver: mode === 'queue', order: t, ...extra,
});
const run = (a: Admission) => {
  if (a.kind !== 'run') throw new Error(`expected to run, got ${JSON.stringify(a)}`);
  return a;
};

describe('OverlapGuard (admission script, real Redis)', () => {
  it('queue: the running run hands its lease to the waiting fire, so a newer fire waits behind it instead of running first', async () => {
    const g = guard();
    const first = run(await g.enter(fire(1000, 'queue')));
    expect(await g.enter(fire(2000, 'queue'))).toMatchObject({ kind: 'wait', for: 'previous-run' });
    expect(await g.enter(fire(3000, 'queue'))).toMatchObject({ kind: 'skip', busyWith: 'wf.j.2000' });
    await first.leave();
    // Before the waiting fire looks again, a newer one comes: it finds the handed-over lease and becomes the waiter.
    expect(await g.enter(fire(4000, 'queue'))).toMatchObject({ kind: 'wait', reason: 'waits for run wf.j.2000 of this job to end (overlap "queue")' });
    const second = run(await g.enter(fire(2000, 'queue')));
    await second.leave();
    run(await g.enter(fire(4000, 'queue')));
  });

  it('cancel-previous: asks the running run to stop (reason names the new fire), replaces an older waiting fire, and runs anyway past the bound', async () => {
    const g = guard();
    run(await g.enter(fire(1000, 'cancel-previous'))); // never leaves: its process lives on, renewing its lease
    expect(await g.enter(fire(2000, 'cancel-previous'))).toMatchObject({ kind: 'wait', for: 'previous-run' });
    await waitFor(() => heard.includes(JSON.stringify({ runId: 'wf.j.1000', reason: 'replaced by fire wf.j.2000 (overlap "cancel-previous")' })), 'the cancel request', 2_000);
    expect(await g.enter(fire(3000, 'cancel-previous'))).toMatchObject({ kind: 'wait' });
    // The older waiting fire comes back: replaced.
    expect(await g.enter(fire(2000, 'cancel-previous'))).toMatchObject({ kind: 'skip', busyWith: 'wf.j.3000', reason: expect.stringMatching(/^skipped: replaced by the newer fire wf\.j\.3000/) });
    // The bound counts from the first wait (a newer fire keeps the clock): past it, the new fire runs alongside.
    const forced = await waitFor(async () => {
      const a = await g.enter(fire(3000, 'cancel-previous'));
      return a.kind === 'run' ? a : undefined;
    }, 'the bound to pass', 3_000);
    expect(forced.forcedPast).toBe('wf.j.1000');
    // An older fire arriving late never runs after a newer one started.
    expect(await g.enter(fire(2500, 'cancel-previous'))).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/a newer fire of this job has already started/) });
  });

  it('concurrency: the slot of a run whose process died frees itself when its lease expires; a live run keeps its slot by renewal', async () => {
    const g = guard();
    const limited = (id: string): AdmissionRequest => ({ workflow: 'wf', jobKey: 'wf/j', runId: id, mode: 'take', trackJob: true, handOver: false, jobLimit: 1, workflowLimit: 1, order: 0 });
    run(await g.enter(limited('alive')));
    // The lease of a run in another process that died: written once, never renewed.
    await redis.zadd(keys.workflowActiveRuns('wf'), Date.now() + LEASE_MS, 'dead');
    expect(await g.enter(limited('next'))).toMatchObject({ kind: 'wait', for: 'concurrency', reason: expect.stringMatching(/runs of job wf\/j are going/) });
    // Well past the dead one's lease, the live one still holds the job's slot (renewed).
    await new Promise((r) => setTimeout(r, LEASE_MS * 3));
    expect(await g.enter(limited('next'))).toMatchObject({ kind: 'wait', for: 'concurrency' });
    expect(await redis.zscore(keys.workflowActiveRuns('wf'), 'dead')).toBeNull();
    expect(await redis.zscore(keys.activeRuns('wf/j'), 'alive')).not.toBeNull();
  });
});
