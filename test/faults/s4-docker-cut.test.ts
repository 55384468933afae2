import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../plugins/shared/containers/container-labels.js';
import { ROOT } from '../support/cli-process.js';
import { pollUntil } from '../support/poll.js';
import { DockerProxy, isPidAlive } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';
import { LifecycleCluster } from './support/lifecycle-cluster.js';

const CUT_MS = 15_000;
const KEEP = { high: 2, low: 3 };

const proxy = new DockerProxy(path.join(ROOT, 'data/faults', `docker-${process.pid}.sock`));
const cluster = new LifecycleCluster('s4', proxy.dockerHost);
afterAll(async () => {
  await cluster.destroy();
  await proxy.close();
}, 120_000);

interface Health {
  status: string;
  checks: Record<string, { status: string; reason?: string }>;
}

/**
 * Scenario 4 (issue 9): the Docker engine is cut for 15 s (new connections
 * refused, open ones broken) under an engine and a worker running the
 * accelerated built-in workflow. Runs fail with an error naming Docker and
 * are retried, the engine stays up, /api/health says Docker is down during
 * the cut and up after, and the workflow converges back to keep.high +
 * keep.low live containers.
 */
describe('fault scenario 4: Docker cut for 15 s', () => {
  it('fails runs clearly, retries them, keeps the engine up, shows Docker down then up, and converges back', async () => {
    await proxy.start();
    await cluster.start(1);
    const violations: string[] = [];
    const killed = async () => new Set((await cluster.logs()).filter((r) => r.kind === 'killed').map((r) => r.containerId!));
    /** Live containers by class: running, and not killed already (Docker may still list those for a moment). */
    const live = async () => {
      const gone = await killed();
      const running = (await cluster.listed()).filter((c) => c.State === 'running' && !gone.has(c.Id));
      return { high: running.filter((c) => c.Labels[LABELS.class] === 'high').length, low: running.filter((c) => c.Labels[LABELS.class] === 'low').length };
    };
    const converged = (l: { high: number; low: number }) => l.high === KEEP.high && l.low === KEEP.low;

    const before = await pollUntil(live, converged, 90_000, 250);
    if (!converged(before)) violations.push(`not converged before the cut: ${JSON.stringify(before)}`);

    const cutAt = Date.now();
    proxy.cutNow();
    let sawDown = false;
    let healthAnswers = 0;
    let slowestHealthMs = 0;
    while (Date.now() - cutAt < CUT_MS) {
      const t = Date.now();
      const h = await cluster.api<Health>('GET', '/api/health').catch(() => undefined);
      slowestHealthMs = Math.max(slowestHealthMs, Date.now() - t);
      if (h) healthAnswers++;
      if (h?.status === 503 && h.body.checks.docker?.status === 'down') sawDown = true;
      await new Promise((r) => setTimeout(r, 500)); // pacing of the health probe during the cut
    }
    proxy.restore();
    const restoredAt = Date.now();
    if (!sawDown) violations.push('/api/health never said docker: down during the cut');
    if (!isPidAlive(cluster.engine!.pid)) violations.push('the engine exited during the cut');

    const up = await pollUntil(() => cluster.api<Health>('GET', '/api/health').catch(() => undefined), (h) => h?.body.checks.docker?.status === 'up', 30_000, 250);
    const dockerUpAfterMs = Date.now() - restoredAt;
    if (up?.body.checks.docker?.status !== 'up') violations.push(`/api/health does not say docker up after the cut: ${JSON.stringify(up?.body)}`);

    const after = await pollUntil(live, converged, 120_000, 500);
    const convergedAfterMs = Date.now() - restoredAt;
    if (!converged(after)) violations.push(`did not converge back to ${KEEP.high} high + ${KEEP.low} low: ${JSON.stringify(after)}`);

    // Runs during the cut failed with an error naming Docker, and were retried (a fire skipped while one of them was retrying ran nothing).
    const runs = await cluster.runs();
    const hit = runs.filter((r) => (r.job === 'spawn' || r.job === 'analyze') && r.status !== 'skipped' && r.error && (r.startedAt ?? r.queuedAt) >= cutAt - 10_000 && (r.startedAt ?? r.queuedAt) <= restoredAt);
    const clear = hit.filter((r) => /docker/i.test(r.error!));
    const retried = hit.filter((r) => r.attempts > 1);
    if (hit.length === 0) violations.push('no run recorded an error during the cut');
    if (clear.length !== hit.length) violations.push(`errors that do not name Docker: ${hit.filter((r) => !clear.includes(r)).slice(0, 3).map((r) => r.error).join(' | ')}`);
    if (retried.length === 0) violations.push('no run that failed during the cut was retried');
    if (!isPidAlive(cluster.engine!.pid)) violations.push('the engine is not running after the cut');

    const figures = {
      cutMs: restoredAt - cutAt, failedDuringCut: hit.length, retried: retried.length, healthAnswers, slowestHealthMs,
      dockerUpAfterMs, convergedAfterMs, live: `${after.high}h+${after.low}l`,
    };
    recordScenario({ scenario: '4 Docker cut 15 s', ok: violations.length === 0, figures, violations });
    console.log('scenario 4', figures, violations, hit.slice(0, 3).map((r) => r.error));
    expect(violations).toEqual([]);
  });
});
