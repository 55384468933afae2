import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';

/** The real Redis the global setup started (or REDIS_URL). */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** A fresh key prefix per test, so tests never see each other's queues. */
export function uniquePrefix(name = 't'): string {
  return `tftest:${name}:${randomUUID().slice(0, 8)}`;
}

/** Connection for plain commands; call `.quit()` in afterEach/afterAll. */
export function testRedis(): Redis {
  return new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
}

/** Deletes every key under a prefix (cleanup after a test). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}
