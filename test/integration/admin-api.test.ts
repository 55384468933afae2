import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, FastifyPluginAsync, InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Spy on the real timingSafeEqual to prove the comparison is constant-time.
vi.mock('node:crypto', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:crypto')>();
  return { ...orig, default: orig, timingSafeEqual: vi.fn(orig.timingSafeEqual) };
});
const crypto = await import('node:crypto');

const { buildAdminApp } = await import('../../core/api/admin-app.js');
const { resolveAdminToken, ADMIN_TOKEN_FILE } = await import('../../core/api/auth/admin-token.js');
const { isLoopbackHost } = await import('../../core/util/loopback-host.js');
const { tokenMatches, bearerToken } = await import('../../core/api/auth/bearer-auth.js');
const { FakeEngineControl, lifecycleWorkflow } = await import('../support/fake-engine-control.js');

const TOKEN = 'test-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const WF = 'container-lifecycle';

type Fake = InstanceType<typeof FakeEngineControl>;

let control: Fake;
let app: FastifyInstance;
let dataDir: string;

async function makeApp(plugins?: Array<{ name: string; routes?: FastifyPluginAsync }>): Promise<FastifyInstance> {
  return buildAdminApp({ control, adminToken: TOKEN, plugins: plugins?.map((p) => ({ manifest: { name: p.name }, plugin: { routes: p.routes } })) });
}

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'tideflow-admin-'));
  control = new FakeEngineControl([
    lifecycleWorkflow(),
    { name: 'other', jobs: { hello: { plugin: 'echo', trigger: { manual: true } } } },
  ]);
  app = await makeApp();
});

afterEach(async () => {
  await app.close();
  await rm(dataDir, { recursive: true, force: true });
});

const inject = (o: InjectOptions) => app.inject(o);
const post = (url: string, extra: Partial<InjectOptions> = {}) => inject({ method: 'POST', url, headers: AUTH, ...extra });

/** Every mutating route, for the 401 checks. */
const MUTATING = [
  `/api/workflows/${WF}/pause`,
  `/api/workflows/${WF}/resume`,
  `/api/workflows/${WF}/jobs/spawn/trigger`,
  `/api/workflows/${WF}/jobs/spawn/pause`,
  `/api/workflows/${WF}/jobs/spawn/resume`,
  '/api/pause',
  '/api/resume',
];

describe('GET /api/health', () => {
  it('is 200 when every check is up', async () => {
    const res = await inject({ url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      status: 'up',
      checks: { redis: { status: 'up' }, docker: { status: 'up' }, scheduler: { status: 'up' }, store: { status: 'up' } },
    });
  });

  it('is 503 with the reason when a check is down', async () => {
    control.healthChecks.docker = { status: 'down', reason: 'connect ENOENT /var/run/docker.sock' };
    const res = await inject({ url: '/api/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json().status).toBe('down');
    expect(res.json().checks.docker).toEqual({ status: 'down', reason: 'connect ENOENT /var/run/docker.sock' });
    expect(res.json().checks.redis).toEqual({ status: 'up' });
  });

  it('is 503 (not 500) when the health probe itself throws', async () => {
    control.health = async () => {
      throw new Error('redis timeout');
    };
    const res = await inject({ url: '/api/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json().checks.engine.reason).toContain('redis timeout');
  });
});

describe('workflows', () => {
  it('lists workflows with jobs, trigger, state, next and last run', async () => {
    control.addRun({ workflow: WF, job: 'spawn', status: 'failed', error: 'boom', startedAt: 5, finishedAt: 9, durationMs: 4 });
    const res = await inject({ url: '/api/workflows' });
    expect(res.statusCode).toBe(200);
    const list = res.json();
    expect(list.map((w: { name: string }) => w.name)).toEqual([WF, 'other']);
    const spawn = list[0].jobs.find((j: { job: string }) => j.job === 'spawn');
    expect(spawn).toMatchObject({ plugin: 'spawner', trigger: { every: '1m' }, state: 'active' });
    expect(typeof spawn.nextRunAt).toBe('number');
    expect(spawn.lastRun).toMatchObject({ status: 'failed', error: 'boom', durationMs: 4 });
    const log = list[0].jobs.find((j: { job: string }) => j.job === 'log');
    expect(log).toMatchObject({ trigger: { chainedFrom: ['spawn', 'analyze'] }, nextRunAt: null, lastRun: null });
  });

  it('GET /api/workflows/:wf returns one workflow; 404 unknown; 400 malformed', async () => {
    const ok = await inject({ url: `/api/workflows/${WF}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ name: WF, state: 'active', file: `workflows/${WF}.json` });
    expect(ok.json().jobs).toHaveLength(4);

    const missing = await inject({ url: '/api/workflows/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, message: expect.stringContaining('nope') });

    const bad = await inject({ url: '/api/workflows/bad%20name%3B' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ statusCode: 400, path: '/params/wf' });
  });
});

describe('trigger', () => {
  const url = `/api/workflows/${WF}/jobs/spawn/trigger`;

  it('enqueues a run with no body and returns its id', async () => {
    const res = await post(url);
    expect(res.statusCode).toBe(202);
    const { runId } = res.json();
    expect(runId).toMatch(/^run-/);
    expect(control.calls).toEqual([{ op: 'trigger', workflow: WF, job: 'spawn', input: undefined }]);
    const run = await inject({ url: `/api/runs/${runId}` });
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ id: runId, workflow: WF, job: 'spawn', trigger: 'manual' });
  });

  it('passes an optional JSON input through', async () => {
    const res = await post(url, { payload: { input: { count: 3, images: ['a'] } } });
    expect(res.statusCode).toBe(202);
    expect(control.calls).toEqual([{ op: 'trigger', workflow: WF, job: 'spawn', input: { count: 3, images: ['a'] } }]);
  });

  it('accepts an empty body sent as application/json', async () => {
    const res = await post(url, { headers: { ...AUTH, 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(202);
  });

  it('400 with the failing path for bad bodies, and nothing is triggered', async () => {
    const unknownProp = await post(url, { payload: { inptu: 1 } });
    expect(unknownProp.statusCode).toBe(400);
    expect(unknownProp.json()).toMatchObject({ path: '/body/inptu' });

    const notObject = await post(url, { payload: [1, 2] });
    expect(notObject.statusCode).toBe(400);
    expect(notObject.json()).toMatchObject({ path: '/body' });

    const badJson = await post(url, { headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"input":' });
    expect(badJson.statusCode).toBe(400);

    const proto = await post(url, { headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' });
    expect(proto.statusCode).toBe(400);

    expect(control.calls).toEqual([]);
  });

  it('404 for an unknown workflow or job', async () => {
    expect((await post(`/api/workflows/nope/jobs/spawn/trigger`)).statusCode).toBe(404);
    const res = await post(`/api/workflows/${WF}/jobs/nope/trigger`);
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('nope');
    expect(control.calls).toEqual([]);
  });

  it('400 for a malformed job name', async () => {
    const res = await post(`/api/workflows/${WF}/jobs/-x/trigger`);
    expect(res.statusCode).toBe(400);
    expect(res.json().path).toBe('/params/job');
  });
});

describe('pause and resume', () => {
  it('pauses and resumes one job', async () => {
    const paused = await post(`/api/workflows/${WF}/jobs/analyze/pause`);
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ job: 'analyze', state: 'paused', pausedBy: 'job', nextRunAt: null });
    const wf = (await inject({ url: `/api/workflows/${WF}` })).json();
    expect(wf.state).toBe('active');
    expect(wf.jobs.find((j: { job: string }) => j.job === 'spawn').state).toBe('active');

    const resumed = await post(`/api/workflows/${WF}/jobs/analyze/resume`);
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ job: 'analyze', state: 'active' });
    expect(control.calls).toEqual([
      { op: 'pause', target: { workflow: WF, job: 'analyze' } },
      { op: 'resume', target: { workflow: WF, job: 'analyze' } },
    ]);
  });

  it('pauses and resumes a workflow', async () => {
    const res = await post(`/api/workflows/${WF}/pause`);
    expect(res.statusCode).toBe(200);
    expect(res.json().state).toBe('paused');
    expect(res.json().jobs.every((j: { state: string }) => j.state === 'paused')).toBe(true);
    expect((await inject({ url: '/api/workflows/other' })).json().state).toBe('active');
    const back = await post(`/api/workflows/${WF}/resume`);
    expect(back.json().state).toBe('active');
  });

  it('pauses and resumes everything', async () => {
    const res = await post('/api/pause');
    expect(res.statusCode).toBe(200);
    expect(res.json().map((w: { state: string }) => w.state)).toEqual(['paused', 'paused']);
    expect(control.calls).toEqual([{ op: 'pause', target: {} }]);
    const back = await post('/api/resume');
    expect(back.json().map((w: { state: string }) => w.state)).toEqual(['active', 'active']);
  });

  it('404 for unknown targets, 400 for malformed ones', async () => {
    expect((await post('/api/workflows/nope/pause')).statusCode).toBe(404);
    expect((await post('/api/workflows/nope/resume')).statusCode).toBe(404);
    expect((await post(`/api/workflows/${WF}/jobs/nope/pause`)).statusCode).toBe(404);
    expect((await post(`/api/workflows/${WF}/jobs/nope/resume`)).statusCode).toBe(404);
    const bad = await post(`/api/workflows/${'x'.repeat(200)}/pause`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().path).toBe('/params/wf');
    expect(control.calls).toEqual([]);
  });
});

describe('auth', () => {
  it.each(MUTATING)('POST %s: 401 without, with a wrong, or with a non-bearer token; nothing changes', async (url) => {
    const states = async () =>
      (await control.listWorkflows()).map((w) => [w.name, w.state, w.jobs.map((j) => `${j.job}:${j.state}:${j.lastRun?.id}`)]);
    const before = await states();
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
    ];
    for (const headers of attempts) {
      const res = await inject({ method: 'POST', url, headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    }
    expect(control.calls).toEqual([]);
    expect(await states()).toEqual(before);
    expect((await control.listRuns({})).total).toBe(0);
  });

  it('checks the token before the body: unauthenticated bad input is 401, not 400', async () => {
    const res = await inject({
      method: 'POST',
      url: `/api/workflows/${WF}/jobs/spawn/trigger`,
      headers: { 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(res.statusCode).toBe(401);
  });

  it('read-only routes need no token', async () => {
    for (const url of ['/api/health', '/api/workflows', `/api/workflows/${WF}`, '/api/runs', '/metrics', '/docs/json', '/']) {
      expect((await inject({ url })).statusCode, url).toBe(200);
    }
  });

  it('accepts the scheme case-insensitively', async () => {
    const res = await inject({ method: 'POST', url: '/api/pause', headers: { authorization: `bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
  });

  it('compares in constant time over equal-length digests', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches('short', TOKEN)).toBe(false);
    expect(tokenMatches(`${TOKEN}-and-much-longer`, TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
    expect(spy).toHaveBeenCalledTimes(5);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it('the HTTP path goes through the constant-time compare', async () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    await inject({ method: 'POST', url: '/api/pause', headers: { authorization: 'Bearer nope' } });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('parses bearer headers strictly', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('BEARER   abc  ')).toBe('abc');
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken('Token abc')).toBeUndefined();
  });

  it('refuses to build without a token', async () => {
    await expect(buildAdminApp({ control, adminToken: '' })).rejects.toThrow(/adminToken/);
  });
});

describe('runs', () => {
  beforeEach(() => {
    for (let i = 0; i < 7; i++) {
      control.addRun({ id: `s${i}`, workflow: WF, job: 'spawn', status: i % 2 ? 'failed' : 'succeeded', queuedAt: 1000 + i });
    }
    control.addRun({ id: 'a0', workflow: WF, job: 'analyze', status: 'running', queuedAt: 2000 });
    control.addRun({ id: 'o0', workflow: 'other', job: 'hello', status: 'queued', queuedAt: 3000 });
  });

  it('lists newest first with total, limit and offset', async () => {
    const res = await inject({ url: '/api/runs' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ total: 9, limit: 50, offset: 0 });
    expect(body.runs.map((r: { id: string }) => r.id)).toEqual(['o0', 'a0', 's6', 's5', 's4', 's3', 's2', 's1', 's0']);
  });

  it('filters by workflow, job, status and paginates', async () => {
    const res = await inject({ url: `/api/runs?workflow=${WF}&job=spawn&status=failed&limit=2&offset=1` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(res.json().runs.map((r: { id: string }) => r.id)).toEqual(['s3', 's1']);
    const other = await inject({ url: '/api/runs?workflow=other' });
    expect(other.json().runs.map((r: { id: string }) => r.id)).toEqual(['o0']);
  });

  it.each([
    ['limit=0', '/querystring/limit'],
    ['limit=501', '/querystring/limit'],
    ['limit=abc', '/querystring/limit'],
    ['offset=-1', '/querystring/offset'],
    ['offset=1.5', '/querystring/offset'],
    ['status=bogus', '/querystring/status'],
    ['workflow=bad%20name', '/querystring/workflow'],
    ['stauts=failed', '/querystring/stauts'],
  ])('400 for ?%s with path %s', async (qs, failing) => {
    const res = await inject({ url: `/api/runs?${qs}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', path: failing });
  });

  it('filters by host; GET /api/hosts lists the hosts of recent runs', async () => {
    control.addRun({ id: 'b0', workflow: WF, job: 'analyze', host: 'host-b', queuedAt: 4000 });
    control.addRun({ id: 'b1', workflow: WF, job: 'spawn', host: 'host-b', queuedAt: 4100 });
    control.addRun({ id: 'c0', workflow: WF, job: 'analyze', host: 'host-a', queuedAt: 3500 });
    const res = await inject({ url: '/api/runs?host=host-b' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ total: 2 });
    expect(res.json().runs.map((r: { id: string }) => r.id)).toEqual(['b1', 'b0']);
    expect((await inject({ url: '/api/runs?host=bad%20host' })).json()).toMatchObject({ statusCode: 400, path: '/querystring/host' });

    const hosts = await inject({ url: '/api/hosts' });
    expect(hosts.statusCode).toBe(200);
    // Runs without a host (not taken by a worker yet, or older records) are left out.
    expect(hosts.json()).toEqual({
      hosts: [
        { name: 'host-a', runs: 1, lastRunAt: 3500 },
        { name: 'host-b', runs: 2, lastRunAt: 4100 },
      ],
      scanned: 12,
    });
  });

  it('GET /api/runs/:id: 200 and 404', async () => {
    const res = await inject({ url: '/api/runs/a0' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: 'a0', job: 'analyze', status: 'running' });
    const missing = await inject({ url: '/api/runs/does-not-exist' });
    expect(missing.statusCode).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('serves the UI at /docs and the document at /docs/json with every route', async () => {
    const ui = await inject({ url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
    expect(ui.body).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"']*\.(js|css)/i);

    const res = await inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths).sort()).toEqual(
      [
        '/api/health',
        '/api/hosts',
        '/api/pause',
        '/api/resume',
        '/api/runs',
        '/api/runs/{id}',
        '/api/workflows',
        '/api/workflows/{wf}',
        '/api/workflows/{wf}/jobs/{job}/pause',
        '/api/workflows/{wf}/jobs/{job}/resume',
        '/api/workflows/{wf}/jobs/{job}/trigger',
        '/api/workflows/{wf}/pause',
        '/api/workflows/{wf}/resume',
        '/api/runs/{id}/cancel',
        '/api/runs/{id}/logs',
        '/api/runs/{id}/io',
        '/api/runs/{id}/attempts',
        '/hooks/{workflow}/{job}',
        '/metrics',
      ].sort(),
    );
    expect(spec.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(spec.paths['/api/pause'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(spec.paths['/api/workflows'].get.security).toEqual([]);
    expect(spec.components.schemas).toHaveProperty('RunRecord');
    expect(spec.components.schemas).toHaveProperty('WorkflowStatus');
    const runsParams = spec.paths['/api/runs'].get.parameters.map((p: { name: string }) => p.name).sort();
    expect(runsParams).toEqual(['host', 'job', 'limit', 'offset', 'status', 'workflow']);
    for (const [p, ops] of Object.entries<Record<string, { tags?: string[] }>>(spec.paths)) {
      for (const op of Object.values(ops)) expect(op.tags?.length, p).toBeGreaterThan(0);
    }
  });
});

describe('never a 500 for bad input', () => {
  it('answers 4xx to a batch of hostile requests', async () => {
    const cases: InjectOptions[] = [
      { url: '/api/workflows/%00' },
      { url: '/api/workflows/..%2F..%2Fetc' },
      { url: '/api/runs?limit=1e400' },
      { url: '/api/runs?offset=1e400' },
      { url: '/api/runs?limit=9999999999999999999999' },
      { url: '/api/runs?offset=' },
      { url: '/api/runs?status[]=failed&status[]=queued' },
      { url: `/api/runs/${'x'.repeat(300)}` },
      { url: '/api/nope' },
      { method: 'POST', url: `/api/workflows/${WF}/jobs/spawn/trigger`, headers: { ...AUTH, 'content-type': 'application/xml' }, payload: '<a/>' },
      { method: 'POST', url: `/api/workflows/${WF}/jobs/spawn/trigger`, headers: AUTH, payload: 'null' },
      { method: 'POST', url: `/api/workflows/${WF}/jobs/spawn/trigger`, headers: { ...AUTH, 'content-type': 'application/json' }, payload: 'x'.repeat(2 * 1024 * 1024) },
      { method: 'DELETE', url: '/api/pause', headers: AUTH },
      { method: 'POST', url: '/api/workflows', headers: AUTH },
    ];
    for (const c of cases) {
      const res = await inject(c);
      expect(res.statusCode, `${c.method ?? 'GET'} ${String(c.url).slice(0, 60)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${c.method ?? 'GET'} ${String(c.url).slice(0, 60)}`).toBeLessThan(500);
      expect(res.headers['content-type']).toContain('application/json');
    }
  });

  it('an engine failure is a 500 without internals', async () => {
    control.listWorkflows = async () => {
      throw new Error('secret redis detail');
    };
    const res = await inject({ url: '/api/workflows' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret redis detail');
  });
});

describe('plugin routes', () => {
  it('registers each plugin route set encapsulated, without prefix, with requireAdmin available', async () => {
    const charts: FastifyPluginAsync = async (child) => {
      child.addHook('onRequest', async (_req, reply) => {
        reply.header('x-charts-plugin', '1');
      });
      child.get('/api/charts', async () => [{ name: 'memory', url: '/charts/memory.png' }]);
      child.post('/api/charts/render', { onRequest: child.requireAdmin }, async () => ({ ok: true }));
    };
    await app.close();
    app = await makeApp([{ name: 'charts', routes: charts }, { name: 'noroutes' }]);

    const res = await inject({ url: '/api/charts' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([{ name: 'memory', url: '/charts/memory.png' }]);
    expect(res.headers['x-charts-plugin']).toBe('1');
    // The plugin's hook stays inside its own context.
    expect((await inject({ url: '/api/health' })).headers['x-charts-plugin']).toBeUndefined();
    expect((await inject({ method: 'POST', url: '/api/charts/render' })).statusCode).toBe(401);
    expect((await inject({ method: 'POST', url: '/api/charts/render', headers: AUTH })).statusCode).toBe(200);
  });

  it('names the plugin whose routes fail to register', async () => {
    const broken = async () => {
      throw new Error('bad route');
    };
    await expect(makeApp([{ name: 'broken', routes: broken }])).rejects.toThrow(/plugin broken.*bad route/);
  });
});

describe('resolveAdminToken', () => {
  const logs = () => {
    const lines: string[] = [];
    return { lines, log: (m: string) => lines.push(m) };
  };

  it('uses a configured token as is and writes nothing', async () => {
    const { lines, log } = logs();
    const r = await resolveAdminToken({ configured: 'configured-secret-value', dataDir, host: '0.0.0.0', log });
    expect(r).toEqual({ token: 'configured-secret-value', source: 'configured' });
    await expect(stat(path.join(dataDir, ADMIN_TOKEN_FILE))).rejects.toThrow();
    expect(lines.join('\n')).not.toContain('configured-secret-value');
  });

  it('generates one, stores it with mode 0600, prints it once, and reuses it', async () => {
    const first = logs();
    const a = await resolveAdminToken({ dataDir: path.join(dataDir, 'nested'), host: '127.0.0.1', log: first.log });
    expect(a.source).toBe('generated');
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const file = path.join(dataDir, 'nested', ADMIN_TOKEN_FILE);
    expect(a.file).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(a.token);
    expect(first.lines.filter((l) => l.includes(a.token))).toHaveLength(1);

    const second = logs();
    const b = await resolveAdminToken({ dataDir: path.join(dataDir, 'nested'), host: 'localhost', log: second.log });
    expect(b).toEqual({ token: a.token, source: 'stored', file });
    expect(second.lines.join('\n')).not.toContain(a.token);
  });

  it('tightens a stored token file with a loose mode to 0600', async () => {
    const file = path.join(dataDir, ADMIN_TOKEN_FILE);
    await writeFile(file, 'stored-token-abcdefghijklmnop\n', { mode: 0o644 });
    const { lines, log } = logs();
    const r = await resolveAdminToken({ dataDir, host: '::1', log });
    expect(r.token).toBe('stored-token-abcdefghijklmnop');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(lines.join('\n')).toMatch(/mode 644/);
  });

  it('replaces an unusable stored token', async () => {
    await writeFile(path.join(dataDir, ADMIN_TOKEN_FILE), '\n', { mode: 0o600 });
    const r = await resolveAdminToken({ dataDir, host: '127.0.0.1', log: () => {} });
    expect(r.source).toBe('generated');
    expect(r.token.length).toBeGreaterThan(20);
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', 'example.com', '[2001:db8::1]'])(
    'refuses a non-loopback host (%s) without a configured token, writing nothing',
    async (host) => {
      await expect(resolveAdminToken({ dataDir, host, log: () => {} })).rejects.toThrow(/non-loopback.*TIDEFLOW_ADMIN_TOKEN/s);
      await expect(stat(path.join(dataDir, ADMIN_TOKEN_FILE))).rejects.toThrow();
    },
  );

  it('tells loopback hosts apart', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example.com', '', '::ffff:10.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});
