import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { runCli } from '../support/cli-process.js';
import { deletePrefix, testRedis, testRedisUrl } from '../support/redis.js';
import { NoopPlugin, readRecorded, RecordPlugin } from '../support/test-plugins.js';
import { ChattyPlugin } from '../support/chatty-plugin.js';
import { startTestEngine, waitFor, writeWorkflows } from '../support/test-engine.js';

const redis = testRedis();
const key = `rec:${Date.now()}:cli`;
let engine: Engine;
let prefix: string;
let env: Record<string, string>;

beforeAll(async () => {
  const started = await startTestEngine({
    workflows: {
      'cli.json': {
        name: 'cli',
        jobs: {
          tick: { plugin: 'record', every: '1h', config: { key } },
          once: { plugin: 'record', manual: true, config: { key } },
          chat: { plugin: 'chatty', manual: true, retry: { attempts: 2, backoff: 'fixed', delay: '100ms' }, config: { lines: 3, failTimes: 1 } },
        },
      },
    },
    options: { plugins: [RecordPlugin, NoopPlugin, ChattyPlugin] },
  });
  engine = started.engine;
  prefix = started.prefix;
  env = { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix };
});

afterAll(async () => {
  await engine.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('tideflow CLI', () => {
  it('validate prints one line per error with file and pointer, exit 1; exit 0 when valid', () => {
    const dir = writeWorkflows({});
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x', jobs: { analyze: { plugin: 'analyzer', every: '10 seconds', then: ['nope'] } } }));
    const r = runCli(['validate', bad]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      `${bad}: /jobs/analyze/every: "10 seconds" is not a duration like 10s, 1m`,
      `${bad}: /jobs/analyze/then/0: "nope" is not a job of this workflow (jobs: analyze)`,
    ]);
    const ok = runCli(['validate', 'workflows']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('container-lifecycle');
  });

  it('trigger, pause, resume and status act on the running engine', async () => {
    const t = runCli(['trigger', 'cli/once', '--input', '{"n":7}'], env);
    expect(t.code, t.stderr).toBe(0);
    const runId = /run (\S+)/.exec(t.stdout)![1]!;
    const rec = await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.runId === runId), 'the triggered run');
    expect(rec.input).toEqual({ n: 7 });

    expect(runCli(['pause', 'cli/tick'], env)).toMatchObject({ code: 0, stdout: 'paused cli/tick\n' });
    expect((await engine.engineControl.getWorkflow('cli')).jobs.find((j) => j.job === 'tick')!.state).toBe('paused');
    const status = runCli(['status', '--json'], env);
    expect(status.code).toBe(0);
    const tick = JSON.parse(status.stdout)[0].jobs.find((j: { job: string }) => j.job === 'tick');
    expect(tick).toMatchObject({ state: 'paused', pausedBy: 'job', nextRunAt: null });
    const table = runCli(['status'], env).stdout;
    expect(table).toMatch(/cli\/tick\s+record\s+every 1h\s+paused/);

    expect(runCli(['resume', 'cli/tick'], env).code).toBe(0);
    const resumed = await engine.engineControl.getWorkflow('cli');
    expect(resumed.jobs.find((j) => j.job === 'tick')).toMatchObject({ state: 'active' });

    // cancel: a finished run is refused, naming its status; an unknown one is not found.
    await waitFor(async () => (await engine.engineControl.getRun(runId))?.status === 'succeeded', 'the triggered run to finish');
    expect(runCli(['cancel', runId], env)).toMatchObject({ code: 1, stderr: expect.stringContaining(`run "${runId}" has already finished (succeeded)`) });
    expect(runCli(['cancel', 'cli.once.nope'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('no run "cli.once.nope"') });
  });

  it('runs lists the newest runs; logs prints what a run logged in every attempt', async () => {
    const { runId } = await engine.engineControl.trigger('cli', 'chat', { hello: 1 });
    await waitFor(async () => (await engine.engineControl.getRun(runId))?.status === 'succeeded', 'the chatty run to succeed on its second attempt');

    const runs = runCli(['runs', '--job', 'cli/chat'], env);
    expect(runs.code, runs.stderr).toBe(0);
    const [header, row, footer] = runs.stdout.trim().split('\n');
    expect(header).toMatch(/^RUN\s+JOB\s+TRIGGER\s+STATUS\s+ATTEMPTS/);
    expect(row).toMatch(new RegExp(`^${runId}\\s+cli/chat\\s+manual\\s+succeeded\\s+2\\s`));
    expect(footer).toBe('(1 of 1, newest first)');
    const json = JSON.parse(runCli(['runs', '--status', 'succeeded', '--limit', '50', '--json'], env).stdout);
    expect(json.runs.map((r: { id: string }) => r.id)).toContain(runId);
    expect(json.runs.every((r: { status: string }) => r.status === 'succeeded')).toBe(true);

    const logs = runCli(['logs', runId], env);
    expect(logs.code, logs.stderr).toBe(0);
    const lines = logs.stdout.trim().split('\n');
    expect(lines[0]).toBe(`run ${runId} (cli/chat): succeeded, 2 attempts`);
    // 3 lines per attempt from the plugin, and the runner's own line about the failed first attempt.
    expect(lines.filter((l) => / #1 INFO  line \d of attempt 1 \{"i":\d\}$/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => / #2 INFO  line \d of attempt 2 \{"i":\d\}$/.test(l))).toHaveLength(3);
    expect(lines.some((l) => / #1 WARN  .*configured failure 1\/1/.test(l))).toBe(true);
    expect(JSON.parse(runCli(['logs', runId, '--json'], env).stdout)).toMatchObject({ total: 7, dropped: 0 });

    expect(runCli(['logs', 'cli.chat.nope'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('no run "cli.chat.nope"') });
    expect(runCli(['runs', '--status', 'done'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('--status must be one of queued, running') });
    expect(runCli(['runs', '--limit', '1e9'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('--limit must be an integer 1..1000, got "1e9"') });
  });

  it('says clearly what is wrong', () => {
    expect(runCli(['trigger', 'cli/missing'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('workflow "cli" has no job "missing"') });
    expect(runCli(['trigger', 'nojob'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('"nojob" is not <workflow>/<job>') });
    expect(runCli(['trigger', 'cli/once', '--input', '{bad'], env)).toMatchObject({ code: 1, stderr: expect.stringContaining('--input is not valid JSON') });
    const noEngine = runCli(['status', '--data-dir', '/tmp/tf-nowhere'], { REDIS_URL: '' });
    expect(noEngine.code).toBe(1);
    expect(noEngine.stderr).toContain('no running engine found');
  });
});
