import { describe, expect, it } from 'vitest';
import { testRedis } from '../support/redis.js';
import { testDocker } from '../support/docker.js';

describe('test environment', () => {
  it('has a real Redis and a real Docker engine', async () => {
    const r = testRedis();
    expect(await r.ping()).toBe('PONG');
    await r.quit();
    expect(String(await testDocker().ping())).toBe('OK');
  });
});
