import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedRedis } from '../core/services/embedded-redis.js';
import { ensureDockerEngine } from '../plugins/shared/containers/docker-engine.js';
import { ensureBuilt } from '../bin/ensure-built.mjs';
import { ensureChromium } from './support/chromium.js';

/**
 * Gives every test file a real Redis, a real Docker engine and Chromium. Missing ones
 * are installed/started here; if that is impossible the whole run fails
 * (never a skip).
 */
let redis: EmbeddedRedis | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = path.resolve('data/test');
  mkdirSync(dataDir, { recursive: true });
  const log = (m: string) => console.log(`[test setup] ${m}`);
  const noInstall = process.env.TIDEFLOW_NO_INSTALL === '1';

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    redis = new EmbeddedRedis({ dir: path.join(dataDir, 'redis'), appendOnly: false, noInstall, log });
    redisUrl = await redis.start();
  }
  const { started } = await ensureDockerEngine({ dockerHost: process.env.DOCKER_HOST, logDir: dataDir, noInstall, log });
  if (started) log('Docker engine started for the tests');
  const chromiumPath = ensureChromium({ noInstall, log });
  // Tests that spawn bin/tideflow.mjs find the build of these sources ready (no race to build it).
  await ensureBuilt({ log });

  project.provide('redisUrl', redisUrl);
  project.provide('chromiumPath', chromiumPath);
  process.env.REDIS_URL = redisUrl;
  return async () => {
    await redis?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** The browser the dashboard test drives (installed by the setup when missing). */
    chromiumPath: string;
  }
}
