import { mkdtempSync, writeFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import type { Redis } from 'ioredis';
import os from 'node:os';
import path from 'node:path';
import { loadEngineConfig, type EngineConfig } from '../../core/config/engine-config.js';
import { Engine, type EngineOptions } from '../../core/engine/engine.js';
import { silentLogger, createLogger } from '../../core/logging/logger.js';
import { NoopPlugin, RecordPlugin } from './test-plugins.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from './redis.js';

export interface TestEngineSetup {
  /** Workflow files to write: file name -> JSON (object or raw text). */
  workflows: Record<string, unknown>;
  prefix?: string;
  dir?: string;
  config?: Partial<EngineConfig>;
  options?: Partial<EngineOptions>;
}

/** Writes the workflow files into a fresh temp folder (or `dir`). */
export function writeWorkflows(workflows: Record<string, unknown>, dir = mkdtempSync(path.join(os.tmpdir(), 'tf-wf-'))): string {
  for (const [file, content] of Object.entries(workflows)) {
    writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

/**
 * An engine on the test Redis with its own key prefix, the test plugins, no
 * built-ins, no API unless asked. Call `engine.stop()` after.
 */
export async function startTestEngine(setup: TestEngineSetup): Promise<{ engine: Engine; dir: string; prefix: string }> {
  const dir = setup.dir ?? writeWorkflows(setup.workflows);
  if (setup.dir) writeWorkflows(setup.workflows, dir);
  const prefix = setup.prefix ?? uniquePrefix('engine');
  const config = loadEngineConfig({
    redisUrl: testRedisUrl(),
    queuePrefix: prefix,
    workflowsDir: dir,
    dataDir: mkdtempSync(path.join(os.tmpdir(), 'tf-data-')),
    port: 0,
    concurrency: 4,
    ...setup.config,
  });
  const engine = new Engine({
    config,
    logger: process.env.TIDEFLOW_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
    plugins: [RecordPlugin, NoopPlugin],
    api: false,
    startServices: false,
    shutdownTimeoutMs: 10_000,
    ...setup.options,
  });
  await engine.start();
  return { engine, dir, prefix };
}

/**
 * The engines of one test file, stopped and their keys deleted after the file
 * (with the file's Redis client): `const engines = testEngines();` at the top,
 * then `await engines.start(setup)` in a hook or a test.
 */
export function testEngines(): { redis: Redis; start(setup: TestEngineSetup): Promise<{ engine: Engine; dir: string; prefix: string }> } {
  const redis = testRedis();
  const started: Array<{ engine: Engine; prefix: string }> = [];
  afterAll(async () => {
    for (const { engine, prefix } of started) {
      await engine.stop();
      await deletePrefix(redis, prefix);
    }
    await redis.quit();
  });
  return {
    redis,
    async start(setup) {
      const one = await startTestEngine(setup);
      started.push(one);
      return one;
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 15_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
