import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminApp } from '../../core/api/admin-app.js';
import { ClusterEventHub } from '../../core/control/cluster-event-hub.js';
import type { Engine } from '../../core/engine/engine.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { RunHistory } from '../../core/history/run-history.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { RECORD_PLUGIN, runCli, startCli, stopChild } from '../support/cli-process.js';
import { FakeEngineControl } from '../support/fake-engine-control.js';
import { pollUntil } from '../support/poll.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { SseClient } from '../support/sse-client.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, writeWorkflows } from '../support/test-engine.js';

/**
 * GET /api/events against real processes: an engine serving the API, a run
 * executed by a separate `tideflow worker` process (another host name),
 * read by a real HTTP client (Node's fetch, streaming); and the stream's
 * limits on a real Redis: capped streams whose slot a leaving client frees,
 * one subscription per process released when the last client leaves,
 * heartbeats, and a client that does not read being dropped.
 */

const TOKEN = 'live-events-test-token-0123456789ab';
const redis = testRedis();
const prefixes: string[] = [];

afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

const runOf = (e: { event: string; data: string }): RunRecord | undefined => (e.event === 'run' ? (JSON.parse(e.data) as { run: RunRecord }).run : undefined);

/** Subscribers of a channel, as Redis counts them. */
async function subscribers(channel: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

describe('GET /api/events on a real engine', () => {
  const WF = 'live';
  const key = `rec:live:${Date.now()}`;
  let engine: Engine;
  let prefix: string;
  let dir: string;

  beforeAll(async () => {
    const started = await startTestEngine({
      workflows: {
        'live.json': {
          name: WF,
          jobs: {
            // Only a worker serving route "far" runs it: never the engine itself.
            remote: { plugin: 'record', manual: true, runsOn: 'far', config: { key, sleepMs: 300 } },
          },
        },
      },
      config: { adminToken: TOKEN },
      options: { api: true },
    });
    engine = started.engine;
    prefix = started.prefix;
    dir = started.dir;
    prefixes.push(prefix);
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it('pushes the states of a run executed by another process (a tideflow worker) as they are saved, and pauses, CLI resumes and reloads', async () => {
    const worker = await startCli(
      ['worker', '--serve', 'far'],
      { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_HOST_NAME: 'far-host' },
      /worker ready/,
    );
    // No token: the stream shows what GET /api/runs shows (see README); EventSource cannot send one anyway.
    const sse = await SseClient.open(`${engine.url}/api/events`);
    try {
      expect(sse.response.status).toBe(200);
      expect(sse.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(sse.response.headers.get('cache-control')).toBe('no-cache, no-transform');
      await sse.waitFor((e) => e.event === 'ready', 'ready');
      expect(await subscribers(new EngineKeys(prefix).eventsChannel)).toBe(1);

      const res = await fetch(`${engine.url}/api/workflows/${WF}/jobs/remote/trigger`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(202);
      const { runId } = (await res.json()) as { runId: string };

      const done = await sse.waitFor((e) => runOf(e)?.id === runId && runOf(e)?.status === 'succeeded', `run ${runId} succeeded`, 30_000);
      const states = sse.events.map(runOf).filter((r): r is RunRecord => r?.id === runId);
      expect(states.map((r) => r.status)).toEqual(['queued', 'running', 'succeeded']);
      // Saved by the worker process: its host and its pid ran it, not this process.
      const finished = runOf(done)!;
      expect(finished).toMatchObject({ workflow: WF, job: 'remote', host: 'far-host', attempts: 1, trigger: 'manual' });
      const recorded = await readRecorded(redis, key);
      expect(recorded.map((r) => [r.runId, r.pid])).toEqual([[runId, worker.child.pid]]);
      expect(worker.child.pid).not.toBe(process.pid);
      // The record as pushed is the record as stored.
      const stored = (await (await fetch(`${engine.url}/api/runs/${runId}`)).json()) as RunRecord;
      expect(finished).toEqual(stored);
      // Pushed, not polled: it arrived within a second of being saved (a loaded 2-core machine).
      const lag = done.at - finished.finishedAt!;
      console.log(`run ${runId}: succeeded saved by the worker -> event at the client in ${lag} ms`);
      expect(lag).toBeLessThan(1000);

      // A pause reaches the stream as a workflows change.
      const paused = await fetch(`${engine.url}/api/workflows/${WF}/jobs/remote/pause`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(paused.status).toBe(200);
      const change = await sse.waitFor((e) => e.event === 'workflows' && JSON.parse(e.data).change === 'pause', 'pause change');
      expect(JSON.parse(change.data)).toMatchObject({ type: 'workflows', change: 'pause', workflow: WF, job: 'remote' });

      // `tideflow resume` (the CLI, its own process, straight to Redis) is heard too.
      const cli = runCli(['resume', `${WF}/remote`], { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix });
      expect(cli.code, cli.stderr).toBe(0);
      const resumed = await sse.waitFor((e) => e.event === 'workflows' && JSON.parse(e.data).change === 'resume', 'resume change');
      expect(JSON.parse(resumed.data)).toMatchObject({ change: 'resume', workflow: WF, job: 'remote' });

      // An edited workflow file, reloaded by the engine's watcher, is announced.
      writeWorkflows({ 'live.json': { name: WF, description: 'edited', jobs: { remote: { plugin: 'record', manual: true, runsOn: 'far', config: { key, sleepMs: 300 } } } } }, dir);
      await sse.waitFor((e) => e.event === 'workflows' && JSON.parse(e.data).change === 'reload', 'reload change');
    } finally {
      await sse.close();
      expect(await stopChild(worker.child)).toBe(0);
    }
    // The last client left: this API process no longer hears the channel.
    expect(await pollUntil(() => subscribers(new EngineKeys(prefix).eventsChannel), (n) => n === 0, 5000)).toBe(0);
  });

  it('is documented in the OpenAPI document as a public text/event-stream', async () => {
    const doc = (await (await fetch(`${engine.url}/docs/json`)).json()) as { paths: Record<string, Record<string, any>> };
    const op = doc.paths['/api/events']!.get;
    expect(op.operationId).toBe('streamEvents');
    expect(op.security).toEqual([]);
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream']);
    expect(op.responses).toHaveProperty('503');
    // The graph's fields of GET /api/workflows are documented too.
    const job = (doc as any).components.schemas.JobStatus;
    expect(job.required).toEqual(expect.arrayContaining(['then', 'onFailure']));
  });
});

describe('event stream limits (one API process on a real Redis)', () => {
  const prefix = uniquePrefix('live');
  const keys = new EngineKeys(prefix);
  let conn: Redis;
  let hub: ClusterEventHub;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    prefixes.push(prefix);
    conn = testRedis();
    hub = new ClusterEventHub(conn, keys);
    app = await buildAdminApp({
      control: new FakeEngineControl([]),
      adminToken: TOKEN,
      events: { feed: hub, maxClients: 2, heartbeatMs: 200, maxBufferedBytes: 64 * 1024 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await hub?.close();
    await conn?.quit();
  });

  it('refuses a stream over the cap with 503, and a client that leaves frees its slot and, the last one, the subscription', async () => {
    const a = await SseClient.open(`${base}/api/events`);
    const b = await SseClient.open(`${base}/api/events`);
    await Promise.all([a.waitFor((e) => e.event === 'ready', 'ready a'), b.waitFor((e) => e.event === 'ready', 'ready b')]);
    // Two clients, one subscriber connection.
    expect(await subscribers(keys.eventsChannel)).toBe(1);
    expect(hub.size).toBe(2);

    const c = await SseClient.open(`${base}/api/events`);
    expect(c.response.status).toBe(503);
    expect(c.response.headers.get('retry-after')).toBe('5');
    expect(await c.response.json()).toMatchObject({ statusCode: 503, message: expect.stringContaining('at most 2') });

    // Heartbeats keep an idle stream talking.
    await pollUntil(async () => a.comments.filter((x) => x.text === 'heartbeat').length, (n) => n >= 2, 5000);
    expect(a.comments.filter((x) => x.text === 'heartbeat').length).toBeGreaterThanOrEqual(2);

    // Something published on the channel (as the history's save script does) reaches both.
    const record = { id: 'w.j.m-1', workflow: 'w', job: 'j', plugin: 'p', trigger: 'manual', status: 'running', attempts: 1, queuedAt: Date.now(), host: 'h' };
    await new RunHistory(conn, keys).save(record as RunRecord);
    for (const s of [a, b]) expect(runOf(await s.waitFor((e) => e.event === 'run', 'run'))).toEqual(record);

    await a.close();
    // The slot is free again once the server has seen the close.
    const d = await pollUntil(
      async () => {
        const s = await SseClient.open(`${base}/api/events`);
        if (s.response.status !== 200) await s.response.body?.cancel();
        return s;
      },
      (s) => s.response.status === 200,
      5000,
    );
    expect(d.response.status).toBe(200);
    await d.waitFor((e) => e.event === 'ready', 'ready d');
    await Promise.all([b.close(), d.close()]);
    expect(await pollUntil(async () => hub.size, (n) => n === 0, 5000)).toBe(0);
    expect(await pollUntil(() => subscribers(keys.eventsChannel), (n) => n === 0, 5000)).toBe(0);
  });

  it('drops a client that does not read, instead of buffering for it without bound', async () => {
    // A raw HTTP client that stops reading after the head: the kernel's buffers fill, then the server's.
    let closed = false;
    const req = request(`${base}/api/events`, { headers: { accept: 'text/event-stream' } });
    const head = new Promise<IncomingMessage>((resolve) => {
      req.on('response', (res) => {
        res.pause();
        res.on('close', () => (closed = true));
        res.on('error', () => (closed = true));
        resolve(res);
      });
    });
    req.on('error', () => (closed = true));
    req.end();
    const res = await head;
    await pollUntil(async () => hub.size, (n) => n === 1, 5000);
    expect(hub.size).toBe(1);

    const big = 'x'.repeat(60_000);
    let published = 0;
    // Bounded: at most 400 × 60 kB (24 MB) until the server gives up on the client.
    while (hub.size > 0 && published < 400) {
      await conn.publish(keys.eventsChannel, JSON.stringify({ type: 'workflows', change: 'reload', at: Date.now(), pad: big }));
      published++;
      if (published % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(await pollUntil(async () => hub.size, (n) => n === 0, 5000)).toBe(0);
    // Reading now, the client finds its stream ended by the server (what was sent, then nothing more).
    res.resume();
    expect(await pollUntil(async () => closed, (v) => v, 10_000)).toBe(true);
    console.log(`a client that read nothing was dropped after ${published} events of 60 kB`);
    expect(published).toBeLessThan(400);
    req.destroy();
  });

  it('ends open streams when the API closes (an open stream never holds a shutdown)', async () => {
    const s = await SseClient.open(`${base}/api/events`);
    await s.waitFor((e) => e.event === 'ready', 'ready');
    const t0 = Date.now();
    // Without the route's preClose hook this never resolves (the stream never ends by itself).
    await Promise.race([app.close(), new Promise((_r, reject) => setTimeout(() => reject(new Error('app.close() held by an open stream')), 10_000))]);
    console.log(`app.close() with a stream open: ${Date.now() - t0} ms`);
    expect(await pollUntil(async () => s.closedByServer, (v) => v, 5000)).toBe(true);
    await s.close();
    expect(await pollUntil(async () => hub.size, (n) => n === 0, 5000)).toBe(0);
  });
});
