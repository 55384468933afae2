import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { EmbeddedRedis } from '../core/services/embedded-redis.js';
import { ensureDockerEngine } from '../plugins/shared/containers/docker-engine.js';

/** A private Redis for a benchmark run (REDIS_URL wins when set). */
export async function benchRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  const redis = new EmbeddedRedis({ dir: mkdtempSync(path.join(os.tmpdir(), 'tf-bench-redis-')), appendOnly: false, noInstall: false, log: () => undefined });
  const url = await redis.start();
  return { url, stop: () => redis.stop() };
}

/** The Docker engine a benchmark drives: started (installed if allowed) the way `tideflow start` does when none answers. */
export async function benchDocker(): Promise<Docker> {
  const { docker, started } = await ensureDockerEngine({
    dockerHost: process.env.DOCKER_HOST,
    logDir: mkdtempSync(path.join(os.tmpdir(), 'tf-bench-dockerd-')),
    noInstall: process.env.TIDEFLOW_NO_INSTALL === '1',
    log: (msg) => console.log(`  ${msg}`),
  });
  if (started) console.log('  (dockerd was started for this bench; it keeps running, as a system service would)');
  return docker;
}
