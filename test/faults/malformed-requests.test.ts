import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEngineInfo } from '../../core/engine/engine-info.js';
import { RECORD_PLUGIN } from '../support/cli-process.js';
import { writeWorkflows } from '../support/test-engine.js';
import { isPidAlive, killGroup, OwnRedis, startTideflow, type OwnProcess } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';
import { rawRequest, type RawRequest } from './support/raw-http.js';

/**
 * Scenario 7: 1,000 malformed requests to every route of a real `tideflow
 * start` process (the route list comes from its own /docs/json, so a new
 * route is covered without editing this file), with and without the token.
 * Never a 5xx, never a malformed body accepted by a route that takes one,
 * the process up, its RSS bounded, the store and the run history unchanged.
 */
const TOTAL = 1000;
const CONCURRENCY = 8;
const RSS_GROWTH_LIMIT_MB = 256;
const TOKEN = 'faults-malformed-token-0123456789abcdef0123';
const WF = `malformed${Date.now().toString(36)}`;

interface Route {
  method: string;
  path: string;
  params: string[];
  hasBody: boolean;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const FIVE_MB = Buffer.alloc(5 * 1024 * 1024, 'x');
const BAD_UTF8 = Buffer.concat([Buffer.from('{"input":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}')]);

/** Replacements for a path parameter: traversal, NUL, bad UTF-8, too long, odd encodings. */
const PARAM_TRICKS = [
  '..%2F..%2F..%2Fetc%2Fpasswd', '..', '%2e%2e', '%00', '%ff%fe', '%c3%28', 'a'.repeat(2000), '%E2%98%83', ' ', '%20', '-x', '.hidden',
  'x%0d%0aSet-Cookie:%20a=b', '%252e%252e%252f', '\\..\\..\\windows', 'CON', '{wf}',
];
const QUERY_TRICKS = [
  'limit=abc&offset=-1', 'limit=1e308&offset=99999999999999999999999', 'minCpu=1e400&from=1e308&to=-1e308', 'kind=1&class[]=x',
  'from=9999-99-99&to=0000-00-00', `junk=${'q'.repeat(8000)}`, `x=${'y'.repeat(70_000)}`, 'format=xml', 'cursor=%ff%fe',
  'a=%zz', 'limit=1&limit=2', '__proto__[x]=1', 'constructor[prototype][x]=1', 'status=exploded', 'workflow=..%2F..',
];
type Body = { body: Buffer | string; type: string; what: string };
const BODIES: Body[] = [
  { what: 'wrong types: array', type: 'application/json', body: '[1,2,3]' },
  { what: 'wrong types: string', type: 'application/json', body: '"hello"' },
  { what: 'wrong types: fields', type: 'application/json', body: '{"input":1,"current_time":{},"RAMmemory":"x","timestamp":[],"process":7}' },
  { what: 'out of range: course times', type: 'application/json', body: '{"current_time":1e308,"killed_containers":[],"high_consumption_containers":[],"low_consumption_containers":[],"memory_info":{"total_ram_kb":1e300,"free_ram_kb":-1,"in_use_ram_kb":0}}' },
  { what: 'out of range: process', type: 'application/json', body: '{"timestamp":-1e308,"process":{"pid":1e20,"name":"x","vsz":-5,"rss":1e400,"memory_usage":1e308,"cpu_usage":-1}}' },
  { what: 'out of range: infinity input', type: 'application/json', body: '{"input":1e400}' },
  { what: '10,000-deep object', type: 'application/json', body: `{"input":${nested(10_000)}}` },
  { what: '10,000-deep arrays', type: 'application/json', body: nestedArrays(10_000) },
  { what: '5 MB body', type: 'application/json', body: FIVE_MB },
  { what: 'bad UTF-8', type: 'application/json', body: BAD_UTF8 },
  { what: 'bad JSON: truncated', type: 'application/json', body: '{"input":' },
  { what: 'bad JSON: single quotes', type: 'application/json', body: "{'input':1}" },
  { what: 'bad JSON: NaN', type: 'application/json', body: '{"input":NaN}' },
  { what: 'prototype poisoning', type: 'application/json', body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}' },
  { what: 'unsupported media type', type: 'application/xml', body: '<input/>' },
  { what: 'text body', type: 'text/plain', body: 'input=1' },
  { what: 'form body', type: 'application/x-www-form-urlencoded', body: 'input=1&input=2' },
  { what: 'content-length lies', type: 'application/json', body: '{}' },
];

/** Path with each parameter filled: a valid name, or a trick. */
function fill(route: Route, trick: string | undefined): string {
  let p = route.path;
  for (const name of route.params) {
    const value = trick ?? (name === 'wf' ? WF : name === 'job' ? 't' : name === 'id' ? `${WF}.t.x` : 'memory.png');
    p = p.replace(`{${name}}`, value);
  }
  return p;
}

/** The i-th malformed request: a deterministic walk over routes x kinds of damage x token. */
function malformed(routes: Route[], i: number): { req: RawRequest; route: Route; what: string; withToken: boolean } {
  const route = routes[i % routes.length]!;
  const withToken = Math.floor(i / routes.length) % 2 === 0;
  const kind = Math.floor(i / (routes.length * 2)) % 3;
  const headers: Record<string, string> = withToken ? { authorization: `Bearer ${TOKEN}` } : {};
  const n = Math.floor(i / (routes.length * 6));
  if (kind === 0) {
    const b = BODIES[n % BODIES.length]!;
    headers['content-type'] = b.type;
    if (b.what === 'content-length lies') headers['content-length'] = '100';
    const method = route.method === 'GET' ? 'POST' : route.method; // a GET route answers a body by method: POST to it
    return { route, withToken, what: `body ${b.what}`, req: { method: route.hasBody ? route.method : method, path: fill(route, undefined), headers, body: b.body } };
  }
  if (kind === 1) {
    const q = QUERY_TRICKS[n % QUERY_TRICKS.length]!;
    return { route, withToken, what: `query ${q.slice(0, 40)}`, req: { method: route.method, path: `${fill(route, undefined)}?${q}`, headers } };
  }
  if (route.params.length > 0) {
    const t = PARAM_TRICKS[n % PARAM_TRICKS.length]!;
    return { route, withToken, what: `param ${t.slice(0, 40)}`, req: { method: route.method, path: fill(route, t), headers } };
  }
  const tricks = ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/./', '//', '/%00', '/%ff', ';jsessionid=1', '/..%2f'];
  const t = tricks[n % tricks.length]!;
  return { route, withToken, what: `path ${t}`, req: { method: route.method, path: `${route.path}${t}`, headers } };
}

describe('scenario 7: malformed requests against a real engine process', () => {
  let root: string;
  let redis: OwnRedis;
  let engine: OwnProcess;
  let port: number;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'tf-faults-malformed-'));
    redis = new OwnRedis(path.join(root, 'redis'));
    await redis.start();
    const workflows = writeWorkflows({ 'w.json': { name: WF, jobs: { t: { plugin: 'record', manual: true, config: { key: `rec:${WF}` } } } } }, mkdtempSync(path.join(root, 'wf-')));
    const dataDir = path.join(root, 'data');
    engine = startTideflow(['start', '--workflows', workflows, '--data-dir', dataDir, '--port', '0'], {
      REDIS_URL: redis.url, TIDEFLOW_QUEUE_PREFIX: `tf-${WF}`, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_ADMIN_TOKEN: TOKEN,
    });
    await engine.waitForOutput(/engine ready/, 90_000);
    const apiUrl = readEngineInfo(dataDir)?.apiUrl;
    if (!apiUrl) throw new Error(`the engine advertised no API url:\n${engine.output().slice(-3000)}`);
    port = Number(new URL(apiUrl).port);
  });

  afterAll(async () => {
    if (engine) await killGroup(engine);
    if (redis) await redis.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it('1,000 malformed requests: never a 5xx, nothing stored, the process up and its memory bounded', async () => {
    const get = async (p: string, auth = false) => {
      const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} });
      return { status: res.status, text: await res.text() };
    };
    // The route list is the engine's own OpenAPI document.
    const doc = JSON.parse((await get('/docs/json')).text) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    const routes: Route[] = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([m]) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map(([m, op]) => ({ method: m.toUpperCase(), path: p, params: [...p.matchAll(/\{(\w+)\}/g)].map((x) => x[1]!), hasBody: op.requestBody !== undefined })),
    );
    expect(routes.length).toBeGreaterThan(10);

    // Something in the store to keep: one valid course log and one run.
    const seed = await fetch(`http://127.0.0.1:${port}/logs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ timestamp: new Date().toISOString(), process: { pid: 1, name: 'seed', cmd_line: null, vsz: 1, rss: 1, memory_usage: 0, cpu_usage: 0 } }),
    });
    expect(seed.status).toBe(201);
    const snapshot = async () => {
      const exported = (await get('/api/logs/export?format=json')).text;
      const runs = JSON.parse((await get('/api/runs?limit=1')).text) as { total: number };
      return { records: (JSON.parse(exported) as unknown[]).length, checksum: createHash('sha256').update(exported).digest('hex').slice(0, 16), runs: runs.total };
    };
    const before = await snapshot();
    const rssBefore = rssMb(engine.pid);

    const statuses = new Map<number, number>();
    const violations: string[] = [];
    const accepted: string[] = [];
    let cutUploads = 0;
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < TOTAL; i = next++) {
          const m = malformed(routes, i);
          const res = await rawRequest(port, m.req);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const label = `${m.req.method} ${m.route.path} (${m.what}, ${m.withToken ? 'token' : 'no token'})`;
          if (res.status === 0 && m.what === 'body 5 MB body') {
            // The engine answers 413 (or 401/404) at the headers and closes; the reset that
            // follows a still-uploading client can swallow that answer. Its log says what it was.
            cutUploads++;
          } else if (res.status >= 500 || res.status === 0) violations.push(`${res.status || 'no answer'}: ${label}: ${res.text.split('\r\n\r\n')[1]?.slice(0, 200) ?? ''}`);
          else if (res.status < 400) {
            // A route that takes a body must never accept a malformed one; a GET that takes no input may ignore junk it does not read.
            if (m.req.method !== 'GET' && m.route.hasBody && m.what.startsWith('body')) violations.push(`${res.status} accepted: ${label}`);
            else accepted.push(`${res.status} ${label}`);
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    const alive = isPidAlive(engine.pid);
    const health = alive ? await get('/api/health') : { status: 0, text: '' };
    const rssAfter = alive ? rssMb(engine.pid) : NaN;
    const after = alive ? await snapshot() : { records: -1, checksum: 'dead', runs: -1 };
    if (!alive) violations.push('the engine process died');
    // The engine's own log: no request failed (5xx), and the refused ones were logged.
    const log = engine.output();
    const failedInLog = log.split('\n').filter((l) => /"msg":"request failed"|"statusCode":5\d\d/.test(l));
    if (failedInLog.length) violations.push(`engine log: ${failedInLog.length} failed requests, e.g. ${failedInLog[0]!.slice(0, 300)}`);
    const refusedInLog = log.split('\n').filter((l) => /request refused|course log refused/.test(l)).length;
    if (refusedInLog === 0) violations.push('the engine logged no refused request');
    if (health.status !== 200 && health.status !== 503) violations.push(`health answered ${health.status}`);
    if (after.records !== before.records || after.checksum !== before.checksum) violations.push(`store changed: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    if (after.runs !== before.runs) violations.push(`run history changed: ${before.runs} -> ${after.runs} runs`);
    if (!(rssAfter - rssBefore <= RSS_GROWTH_LIMIT_MB)) violations.push(`RSS grew ${rssBefore} -> ${rssAfter} MiB (limit +${RSS_GROWTH_LIMIT_MB})`);

    const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`).join(',');
    console.log(
      `[scenario 7] ${TOTAL} requests over ${routes.length} routes in ${seconds.toFixed(1)} s; statuses ${byStatus}; ` +
        `RSS ${rssBefore} -> ${rssAfter} MiB; store ${before.records} records ${before.checksum} -> ${after.records} ${after.checksum}; ` +
        `runs ${before.runs} -> ${after.runs}; refused requests logged: ${refusedInLog}; ` +
        `5 MB uploads cut by the engine's early answer: ${cutUploads}; accepted by routes that ignore the input: ${accepted.length}`,
    );
    if (accepted.length) console.log(`[scenario 7] e.g. ${accepted.slice(0, 5).join(' | ')}`);
    recordScenario({
      scenario: '7 malformed requests (every route)',
      ok: violations.length === 0,
      figures: { requests: TOTAL, logged: refusedInLog, cutUploads, routes: routes.length, statuses: byStatus, rssMB: `${rssBefore}->${rssAfter}`, records: `${before.records}->${after.records}`, s: seconds.toFixed(1) },
      violations: violations.slice(0, 20),
    });
    expect(violations).toEqual([]);
  });
});
