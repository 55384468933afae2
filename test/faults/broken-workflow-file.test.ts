import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEngineInfo } from '../../core/engine/engine-info.js';
import { RECORD_PLUGIN, runCli } from '../support/cli-process.js';
import { waitFor } from '../support/test-engine.js';
import { isPidAlive, killGroup, OwnRedis, startTideflow, type OwnProcess } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';

/**
 * Scenario 6: a half-written and then a semantically wrong workflow file
 * while a real `tideflow start` runs it. The last good definition keeps
 * running (its schedule keeps firing), the error shows in `tideflow status`,
 * the API and the engine log, and fixing the file clears it.
 */
const WF = `broken${Date.now().toString(36)}`;
const TOKEN = 'faults-broken-file-token-0123456789abcdef';
const definition = (key: string, every: string) =>
  JSON.stringify({ name: WF, jobs: { tick: { plugin: 'record', every, config: { key } } } }, null, 2);

describe('scenario 6: broken workflow files while the engine runs', () => {
  let root: string;
  let ownRedis: OwnRedis;
  let redis: Redis;
  let engine: OwnProcess;
  let dataDir: string;
  let file: string;
  let apiUrl: string;
  const key = `rec:${WF}`;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'tf-faults-broken-'));
    ownRedis = new OwnRedis(path.join(root, 'redis'));
    await ownRedis.start();
    redis = new Redis(ownRedis.url);
    const workflows = mkdtempSync(path.join(root, 'wf-'));
    file = path.join(workflows, 'broken.json');
    writeFileSync(file, definition(key, '1s'));
    dataDir = path.join(root, 'data');
    engine = startTideflow(['start', '--workflows', workflows, '--data-dir', dataDir, '--port', '0'], {
      REDIS_URL: ownRedis.url, TIDEFLOW_QUEUE_PREFIX: `tf-${WF}`, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_ADMIN_TOKEN: TOKEN,
    });
    await engine.waitForOutput(/engine ready/, 90_000);
    apiUrl = readEngineInfo(dataDir)!.apiUrl!;
  });

  afterAll(async () => {
    redis?.disconnect();
    if (engine) await killGroup(engine);
    if (ownRedis) await ownRedis.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  const apiError = async () => ((await (await fetch(`${apiUrl}/api/workflows/${WF}`)).json()) as { error?: string }).error;
  const status = () => runCli(['status', '--data-dir', dataDir], { TIDEFLOW_QUEUE_PREFIX: `tf-${WF}` });
  /** Fires of the job while `during` runs: the schedule must keep going. */
  const firesWhile = async (during: () => Promise<void>) => {
    const before = await redis.llen(key);
    await during();
    const at = await redis.llen(key);
    await waitFor(async () => (await redis.llen(key)) >= at + 2, 'two more fires of the last good definition', 10_000);
    return (await redis.llen(key)) - before;
  };

  it('keeps the last good definition running, reports the error everywhere, clears it on a fix', async () => {
    const violations: string[] = [];
    const figures: Record<string, string | number> = {};
    await waitFor(async () => (await redis.llen(key)) >= 2, 'the first fires');

    // 1. Half-written: an editor saving in two steps, or a copy cut short.
    const good = definition(key, '1s');
    let logMark = engine.output().length;
    figures.firesHalfWritten = await firesWhile(async () => {
      writeFileSync(file, good.slice(0, Math.floor(good.length / 2)));
      const err = await waitFor(apiError, 'the API to report the half-written file', 15_000);
      if (!/JSON|Unexpected|parse/i.test(err)) violations.push(`API error for a half-written file does not say it is bad JSON: ${err}`);
    });
    const halfLog = engine.output().slice(logMark);
    if (!/broken\.json/.test(halfLog) || !/keeping the last good definition/.test(halfLog)) violations.push(`engine log has no error for the half-written file:\n${halfLog.slice(-800)}`);
    const st1 = status();
    if (st1.code !== 0 || !st1.stdout.includes('its file has errors') || !st1.stdout.includes(`${WF}/tick`)) violations.push(`status does not show the error: ${st1.stdout}${st1.stderr}`);

    // 2. Valid JSON, wrong meaning: an unknown plugin and a bad duration.
    logMark = engine.output().length;
    figures.firesSemantic = await firesWhile(async () => {
      writeFileSync(file, JSON.stringify({ name: WF, jobs: { tick: { plugin: 'no-such-plugin', every: 'often', config: { key } } } }));
      const err = await waitFor(async () => {
        const e = await apiError();
        return e && /often|no-such-plugin/.test(e) ? e : undefined;
      }, 'the API to report the wrong definition', 15_000);
      if (!/every/.test(err) && !/no-such-plugin/.test(err)) violations.push(`API error does not name the fault: ${err}`);
    });
    const semLog = engine.output().slice(logMark);
    if (!/often|no-such-plugin/.test(semLog)) violations.push(`engine log has no error for the wrong definition:\n${semLog.slice(-800)}`);
    const st2 = status();
    if (!/often|no-such-plugin/.test(st2.stdout)) violations.push(`status does not name the fault: ${st2.stdout}`);
    const wf = (await (await fetch(`${apiUrl}/api/workflows/${WF}`)).json()) as { jobs: Array<{ job: string; plugin: string; trigger: { every?: string } }> };
    if (wf.jobs[0]?.plugin !== 'record' || wf.jobs[0]?.trigger.every !== '1s') violations.push(`the running definition changed: ${JSON.stringify(wf.jobs)}`);

    // 3. Fixed (with a new period, to see the fix took effect): the error is gone everywhere.
    writeFileSync(file, definition(key, '2s'));
    await waitFor(async () => {
      const r = (await (await fetch(`${apiUrl}/api/workflows/${WF}`)).json()) as { error?: string; jobs: Array<{ trigger: { every?: string } }> };
      return r.error === undefined && r.jobs[0]?.trigger.every === '2s';
    }, 'the fix to clear the error', 15_000);
    const st3 = status();
    if (st3.stdout.includes('its file has errors')) violations.push(`status still shows an error after the fix: ${st3.stdout}`);
    const at = await redis.llen(key);
    await waitFor(async () => (await redis.llen(key)) >= at + 1, 'fires of the fixed definition', 10_000);
    if (!isPidAlive(engine.pid)) violations.push('the engine died');

    recordScenario({ scenario: '6 broken workflow file while running', ok: violations.length === 0, figures, violations });
    expect(violations).toEqual([]);
  });
});
