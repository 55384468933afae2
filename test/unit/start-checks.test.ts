import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { MIN_ADMIN_TOKEN_LENGTH, StartConfigError, assertStartConfig, startConfigProblems } from '../../core/config/start-checks.js';

const config = (env: Record<string, string>) => loadEngineConfig({}, env);

describe('start configuration checks', () => {
  it('accepts the defaults (loopback, no token: one is generated)', () => {
    expect(startConfigProblems(config({}), { api: true })).toEqual([]);
  });

  it('refuses a non-loopback host without a token, and open log ingest there', () => {
    expect(startConfigProblems(config({ HOST: '0.0.0.0' }), { api: true })).toEqual([expect.stringMatching(/non-loopback host "0\.0\.0\.0"/)]);
    const p = startConfigProblems(config({ HOST: '10.0.0.5', TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(32), TIDEFLOW_OPEN_LOG_INGEST: '1' }), { api: true });
    expect(p).toEqual([expect.stringMatching(/OPEN_LOG_INGEST.*not 10\.0\.0\.5/)]);
  });

  it(`refuses admin tokens shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters, accepts that length`, () => {
    expect(startConfigProblems(config({ TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(MIN_ADMIN_TOKEN_LENGTH - 1) }), { api: true })).toEqual([
      expect.stringMatching(/15 characters long: too short to be secret/),
    ]);
    expect(startConfigProblems(config({ TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(MIN_ADMIN_TOKEN_LENGTH) }), { api: true })).toEqual([]);
  });

  it('a worker (no API) is not held to the API rules, but to concurrency', () => {
    expect(startConfigProblems(config({ HOST: '0.0.0.0', TIDEFLOW_ADMIN_TOKEN: 'short' }), { api: false })).toEqual([]);
    expect(startConfigProblems(config({ TIDEFLOW_CONCURRENCY: 'lots' }), { api: false })).toEqual([expect.stringMatching(/CONCURRENCY.*got NaN/)]);
  });

  it('names every problem in one error', () => {
    expect(() => assertStartConfig(config({ HOST: '0.0.0.0', TIDEFLOW_CONCURRENCY: '0' }), { api: true })).toThrow(StartConfigError);
    try {
      assertStartConfig(config({ HOST: '0.0.0.0', TIDEFLOW_CONCURRENCY: '0' }), { api: true });
    } catch (err) {
      expect((err as StartConfigError).problems).toHaveLength(2);
      expect((err as Error).message).toMatch(/refusing to start:\n {2}- .*CONCURRENCY[\s\S]*non-loopback/);
    }
  });
});
