import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedRedis } from '../core/services/embedded-redis.js';

/** A private Redis for a benchmark run (REDIS_URL wins when set). */
export async function benchRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  const redis = new EmbeddedRedis({ dir: mkdtempSync(path.join(os.tmpdir(), 'tf-bench-redis-')), appendOnly: false, noInstall: false, log: () => undefined });
  const url = await redis.start();
  return { url, stop: () => redis.stop() };
}
