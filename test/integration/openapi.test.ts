import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../../cli/builtin-plugins.js';
import type { Engine } from '../../core/engine/engine.js';
import { compileStrict, generateTypes, redoclyLint, writeTsProject } from '../support/openapi-tools.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

/**
 * The admin API's OpenAPI document, checked by the tools its users run: the
 * live /docs/json of a real engine (built-in plugins' routes included) is
 * linted by `redocly lint`, turned into types by `openapi-typescript`, and a
 * typed client (openapi-fetch) is type-checked, compiled and run against the
 * engine.
 */

const TOKEN = 'openapi-test-token-0123456789abcdef';
const WF = `oa-${randomUUID().slice(0, 8)}`;
const redis = testRedis();
const key = `rec:${WF}`;
let engine: Engine;
let prefix: string;
let doc: Record<string, any>;
let tmp: string;

beforeAll(async () => {
  const started = await startTestEngine({
    workflows: { 'oa.json': { name: WF, jobs: { work: { plugin: 'record', manual: true, config: { key } } } } },
    config: { adminToken: TOKEN },
    options: { api: true, pluginModules: BUILTIN_PLUGINS },
  });
  engine = started.engine;
  prefix = started.prefix;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tf-openapi-'));
  const res = await fetch(`${engine.url}/docs/json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Record<string, any>;
});

afterAll(async () => {
  await engine?.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
};

function operations(): Array<[string, Operation]> {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([p, ops]) =>
    Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${p}`, op]),
  );
}

describe('OpenAPI document of a real engine', () => {
  it('has the built-in plugins’ routes', () => {
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/logs', '/api/logs/export', '/logs', '/api/charts', '/charts/{file}']));
  });

  // Generous limits: real tools on a shared 2-core machine (speed is not what this checks).
  it('passes `redocly lint` (recommended rules, redocly.yaml) with no error and no warning', { timeout: 180_000 }, async () => {
    const file = path.join(tmp, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const report = await redoclyLint(file);
    const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location?.[0]?.pointer ?? '?'}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('names every operation, says who may call it, and declares a 4xx wherever input or a token can be wrong', () => {
    const ids = operations().map(([, op]) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)), ids.join(',')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [name, op] of operations()) {
      expect(op.security, name).toBeDefined();
      // Stands in for redocly's operation-4xx-response, off for routes that take no input (see redocly.yaml).
      if (op.parameters?.length || op.requestBody || op.security?.length) {
        expect(Object.keys(op.responses).some((code) => /^4\d\d$/.test(code)), `${name} declares a 4xx`).toBe(true);
      }
    }
  });

  it('documents what the routes enforce and accept', async () => {
    const paths = doc.paths as Record<string, Record<string, any>>;
    // POST /logs answers 401 without the token, so it says so.
    const ingest = await fetch(`${engine.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ingest.status).toBe(401);
    expect(paths['/logs']!.post.security).toEqual([{ bearerAuth: [] }]);
    expect(paths['/logs']!.post.responses).toHaveProperty('401');
    expect(paths['/api/workflows']!.get.security).toEqual([]);
    expect((await fetch(`${engine.url}/api/workflows`)).status).toBe(200);

    // The trigger body may be omitted; parameters with defaults are optional.
    expect(paths['/api/workflows/{wf}/jobs/{job}/trigger']!.post.requestBody.required).toBe(false);
    const query = (p: string) => Object.fromEntries((paths[p]!.get.parameters as Array<{ name: string; required: boolean }>).map((q) => [q.name, q.required]));
    expect(query('/api/runs')).toMatchObject({ limit: false, offset: false });
    expect(query('/api/logs')).toMatchObject({ limit: false });
    expect(query('/api/logs/export')).toMatchObject({ format: false });

    expect(Object.keys(paths['/api/logs/export']!.get.responses['200'].content).sort()).toEqual(['application/json', 'text/csv']);
    expect(Object.keys(paths['/charts/{file}']!.get.responses['200'].content).sort()).toEqual(['application/json', 'image/png', 'image/svg+xml']);
    const logRecord = paths['/api/logs']!.get.responses['200'].content['application/json'].schema.properties.items.items;
    expect(logRecord.properties.kind.enum).toEqual(['spawned', 'killed', 'kept', 'memory']);
  });
});

/** A user's typed client, written against the generated `paths` (and nothing else of tideflow). */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

export type Run = paths['/api/runs/{id}']['get']['responses'][200]['content']['application/json'];
export type RunStatus = Run['status'];
type ExportedRecord = paths['/api/logs/export']['get']['responses'][200]['content']['application/json'][number];

export function tideflowClient(baseUrl: string, token: string) {
  const client = createClient<paths>({ baseUrl });
  const auth = { authorization: 'Bearer ' + token };
  return {
    async trigger(wf: string, job: string, input?: unknown): Promise<string> {
      const { data, error, response } = await client.POST('/api/workflows/{wf}/jobs/{job}/trigger', {
        params: { path: { wf, job } },
        headers: auth,
        // The body is optional: without input, send none at all.
        ...(input === undefined ? {} : { body: { input } }),
      });
      if (!data) throw new Error('trigger: HTTP ' + response.status + ' ' + JSON.stringify(error));
      return data.runId;
    },
    async run(id: string): Promise<Run | undefined> {
      const { data, response } = await client.GET('/api/runs/{id}', { params: { path: { id } } });
      if (response.status === 404) return undefined;
      if (!data) throw new Error('run: HTTP ' + response.status);
      return data;
    },
    async runsOf(workflow: string): Promise<Run[]> {
      // limit and offset have defaults: optional here.
      const { data } = await client.GET('/api/runs', { params: { query: { workflow } } });
      return data?.runs ?? [];
    },
  };
}

// Compile-time checks only (never called): the generated types are precise, not any/unknown.
export function typeChecks(r: Run, e: ExportedRecord): string[] {
  const finished: RunStatus[] = ['succeeded', 'failed'];
  // @ts-expect-error not a run status
  const bogus: RunStatus = 'exploded';
  // @ts-expect-error kind is an enum, not any string
  const kind: ExportedRecord['kind'] = 'zombie';
  // @ts-expect-error a run id is a string
  const id: number = r.id;
  return [...finished, bogus, kind, String(id), e.kind, r.trigger];
}
`;

describe('a client typed by openapi-typescript', () => {
  let client: {
    trigger(wf: string, job: string, input?: unknown): Promise<string>;
    run(id: string): Promise<{ id: string; status: string; trigger: string } | undefined>;
    runsOf(workflow: string): Promise<Array<{ id: string }>>;
  };

  it('type-checks against the generated types of the live document', { timeout: 180_000 }, async () => {
    const types = await generateTypes(doc);
    expect(types).toContain('"/api/workflows/{wf}/jobs/{job}/trigger"');
    expect(types).toMatch(/exportLogs: \{/);
    const dir = path.join(tmp, 'client');
    writeTsProject(dir, { 'api.d.ts': types, 'client.ts': CLIENT });
    expect(compileStrict(dir, 'client.ts')).toBe('');
    // A wrong call does not compile: the check above can fail.
    writeTsProject(dir, {
      'wrong.ts': `import createClient from 'openapi-fetch';\nimport type { paths } from './api.js';\n` +
        `await createClient<paths>({ baseUrl: '' }).POST('/api/workflows/{wf}/jobs/{job}/trigger', { params: { path: { wf: 'a' } } });\n`,
    });
    expect(compileStrict(dir, 'wrong.ts')).toMatch(/job/);
    client = (await import(pathToFileURL(path.join(dir, 'out/client.js')).href)).tideflowClient(engine.url, TOKEN);
  });

  it('triggers a job on a real engine and reads its run', async () => {
    expect(client, 'the client compiled').toBeDefined();
    const runId = await client.trigger(WF, 'work', { via: 'typed-client' });
    expect(runId).toMatch(new RegExp(`^${WF}\\.work\\.`));
    const run = await waitFor(async () => {
      const r = await client.run(runId);
      return r?.status === 'succeeded' ? r : undefined;
    }, 'the triggered run to succeed');
    expect(run).toMatchObject({ id: runId, trigger: 'manual' });
    const recorded = await readRecorded(redis, key);
    expect(recorded.find((r) => r.runId === runId)?.input).toEqual({ via: 'typed-client' });

    // No body at all is accepted, as documented.
    const bare = await client.trigger(WF, 'work');
    await waitFor(async () => (await client.run(bare))?.status === 'succeeded', 'the run triggered without a body');
    expect((await client.runsOf(WF)).map((r) => r.id)).toEqual(expect.arrayContaining([runId, bare]));
  });
});
