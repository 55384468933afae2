import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { PrometheusServer, promtool } from '../support/prometheus-tools.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';
import { BUILTIN_PLUGINS } from '../../cli/builtin-plugins.js';

/**
 * The Prometheus side checked by Prometheus's own tools: promtool on a live
 * engine's /metrics and on the shipped rules, and a real Prometheus server
 * scraping a running engine.
 */
const DEPLOY = path.resolve('deploy/prometheus');
const WF = `prom-${randomUUID().slice(0, 8)}`;

let engine: Engine;

beforeAll(async () => {
  ({ engine } = await startTestEngine({
    workflows: {
      [`${WF}.json`]: {
        name: WF,
        jobs: {
          // Succeeds every second.
          quick: { plugin: 'noop', every: '1s', then: ['after'] },
          // Fails for good every second (one attempt).
          broken: { plugin: 'record', every: '1s', config: { key: `${WF}:broken`, failTimes: 1_000_000 } },
          // Chained only: no schedule, so no lag series.
          after: { plugin: 'noop' },
        },
      },
    },
    // The built-ins too: the container plugins contribute their metrics through the metrics hook.
    options: { api: true, pluginModules: BUILTIN_PLUGINS },
  }));
  await waitFor(async () => {
    const text = await (await fetch(`${engine.url}/metrics`)).text();
    return text.includes(`tideflow_job="quick",status="succeeded"`) && text.includes(`tideflow_job="broken",status="failed"`);
  }, 'both jobs to have run', 30_000);
});

afterAll(async () => {
  await engine?.stop();
});

describe('promtool', () => {
  it('check metrics passes on the live /metrics with no warning at all', async () => {
    const res = await fetch(`${engine.url}/metrics`);
    const text = await res.text();
    // What an operator's scrape sees: every family, with samples of the runs and of the plugins.
    for (const name of ['tideflow_runs_total', 'tideflow_job_paused', 'tideflow_scheduler_lag_seconds', 'tideflow_containers_live', 'tideflow_host_memory_used_bytes', 'tideflow_health_check_up']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const r = await promtool(['check', 'metrics'], text);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
  });

  it('check rules passes on the shipped alert rules, and their unit tests pass', async () => {
    const check = await promtool(['check', 'rules', path.join(DEPLOY, 'tideflow-rules.yml')]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const unit = await promtool(['test', 'rules', path.join(DEPLOY, 'tideflow-rules.test.yml')]);
    expect(unit.code, unit.stdout + unit.stderr).toBe(0);
    expect(unit.stdout).toContain('SUCCESS');
  });

  it('check config passes on the shipped scrape config', async () => {
    const r = await promtool(['check', 'config', path.join(DEPLOY, 'prometheus.yml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('a real Prometheus server scraping the engine', () => {
  const prom = new PrometheusServer();

  afterAll(async () => {
    await prom.stop();
  });

  it('finds per-job series by the tideflow_job label, keeps job for the scrape job, loads the rules and the dashboard queries', async () => {
    const target = new URL(engine.url!).host;
    // The shipped config with this engine as target and a fast scrape.
    const shipped = readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8');
    expect(shipped).toContain("targets: ['127.0.0.1:3000']");
    const config = shipped
      .replace("targets: ['127.0.0.1:3000']", `targets: ['${target}']`)
      .replace(/scrape_interval: 15s/, 'scrape_interval: 1s')
      .replace(/evaluation_interval: 15s/, 'evaluation_interval: 1s')
      .replace(/scrape_timeout: 10s/, 'scrape_timeout: 1s');
    await prom.start(config, { 'tideflow-rules.yml': readFileSync(path.join(DEPLOY, 'tideflow-rules.yml'), 'utf8') });

    const succeeded = await waitFor(
      async () => {
        if (!prom.running) throw new Error(`prometheus exited: ${prom.log}`);
        const r = await prom.query(`tideflow_runs_total{workflow="${WF}", tideflow_job="quick"}`);
        return r.data.result.length ? r.data.result : undefined;
      },
      'Prometheus to have scraped the quick job',
      30_000,
      250,
    );
    // Exactly the quick job's series: succeeded only, labelled as written, `job` left to the scrape job.
    expect(succeeded.map((s) => s.metric)).toEqual([
      { __name__: 'tideflow_runs_total', instance: target, job: 'tideflow', workflow: WF, tideflow_job: 'quick', status: 'succeeded' },
    ]);
    expect(Number(succeeded[0]!.value[1])).toBeGreaterThanOrEqual(1);

    const broken = await prom.query(`tideflow_runs_total{workflow="${WF}", tideflow_job="broken"}`);
    expect(broken.data.result.map((s) => s.metric.status)).toEqual(['failed']);
    // Nothing was renamed to exported_job.
    expect((await prom.query('count({exported_job!=""})')).data.result).toEqual([]);

    // The per-job quantile the old `job` label blended: one series per job, each only its own runs.
    const p = await prom.query(
      `sort(histogram_quantile(0.5, sum by (tideflow_job, le) (rate(tideflow_run_duration_seconds_bucket{workflow="${WF}"}[1m]))))`,
    );
    expect(p.status).toBe('success');
    const byJob = await prom.query(`sum by (tideflow_job) (tideflow_runs_started_total{workflow="${WF}"})`);
    expect(byJob.data.result.map((s) => s.metric.tideflow_job).sort()).toEqual(['after', 'broken', 'quick']);

    // Gauges of the jobs: scheduled jobs have a lag, the chained one has none.
    const lag = await prom.query(`tideflow_scheduler_lag_seconds{workflow="${WF}"}`);
    expect(lag.data.result.map((s) => s.metric.tideflow_job).sort()).toEqual(['broken', 'quick']);
    const paused = await prom.query(`tideflow_job_paused{workflow="${WF}"}`);
    expect(paused.data.result.map((s) => [s.metric.tideflow_job, s.value[1]]).sort()).toEqual([['after', '0'], ['broken', '0'], ['quick', '0']]);
    const success = await prom.query(`tideflow_job_last_success_timestamp_seconds{workflow="${WF}"}`);
    // broken never succeeded: no series.
    expect(success.data.result.map((s) => s.metric.tideflow_job).sort()).toEqual(['after', 'quick']);
    for (const s of success.data.result) expect(Number(s.value[1]) * 1000).toBeGreaterThan(Date.now() - 60_000);

    // The shipped rules load and evaluate without error.
    const rules = await waitFor(
      async () => {
        const r = await prom.api<{ groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }>('rules');
        const all = r.data.groups.flatMap((g) => g.rules);
        return all.length && all.every((x) => x.health === 'ok') ? all : undefined;
      },
      'the alert rules to be evaluated',
      20_000,
      250,
    );
    expect(rules.map((r) => r.name)).toContain('TideflowScheduleOverdue');

    // Every query of the Grafana dashboard is valid PromQL and names only metrics the engine exposes.
    const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
    };
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel: panel.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    const exposed = new Set([...(await (await fetch(`${engine.url}/metrics`)).text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
    ));
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll('$instance', '.*').replaceAll('$workflow', '.*').replaceAll('$__rate_interval', '1m');
      const r = await prom.query(q);
      expect({ panel, status: r.status, error: r.error }).toEqual({ panel, status: 'success', error: undefined });
      const unknown = [...expr.matchAll(/\b((?:tideflow|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!).filter((name) => name !== 'tideflow_job' && !exposed.has(name));
      expect({ panel, unknown }).toEqual({ panel, unknown: [] });
    }
  });
});
