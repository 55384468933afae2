import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { EnvSettingsError } from '../../core/config/env-settings.js';
import { LoggerPlugin } from '../../plugins/logger/logger-plugin.js';
import { MIN_ADMIN_TOKEN_LENGTH, StartConfigError, assertStartConfig, startConfigProblems } from '../../core/config/start-checks.js';

const config = (env: Record<string, string>) => loadEngineConfig({}, env);

describe('start configuration checks', () => {
  it('accepts the defaults (loopback, no token: one is generated)', () => {
    expect(startConfigProblems(config({}), { api: true })).toEqual([]);
  });

  it('refuses a non-loopback host without a token; the logger refuses open log ingest there', () => {
    expect(startConfigProblems(config({ HOST: '0.0.0.0' }), { api: true })).toEqual([expect.stringMatching(/non-loopback host "0\.0\.0\.0"/)]);
    const env = { HOST: '10.0.0.5', TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(32), TIDEFLOW_OPEN_LOG_INGEST: '1' };
    expect(startConfigProblems(config(env), { api: true })).toEqual([]);
    expect(LoggerPlugin.manifest.startProblems({ env, api: true, host: '10.0.0.5' })).toEqual([expect.stringMatching(/OPEN_LOG_INGEST.*not 10\.0\.0\.5/)]);
    expect(LoggerPlugin.manifest.startProblems({ env, api: true, host: '127.0.0.1' })).toEqual([]);
    expect(LoggerPlugin.manifest.startProblems({ env, api: false, host: '10.0.0.5' })).toEqual([]);
  });

  it(`refuses admin tokens shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters, accepts that length`, () => {
    expect(startConfigProblems(config({ TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(MIN_ADMIN_TOKEN_LENGTH - 1) }), { api: true })).toEqual([
      expect.stringMatching(/15 characters long: too short to be secret/),
    ]);
    expect(startConfigProblems(config({ TIDEFLOW_ADMIN_TOKEN: 'x'.repeat(MIN_ADMIN_TOKEN_LENGTH) }), { api: true })).toEqual([]);
  });

  it('a worker (no API) is not held to the API rules, but to concurrency', () => {
    expect(startConfigProblems(config({ HOST: '0.0.0.0', TIDEFLOW_ADMIN_TOKEN: 'short' }), { api: false })).toEqual([]);
    expect(startConfigProblems(loadEngineConfig({ concurrency: 0 }, {}), { api: false })).toEqual([expect.stringMatching(/CONCURRENCY must be an integer 1\.\.1000, got 0/)]);
  });

  it('names every problem in one error', () => {
    const cfg = loadEngineConfig({ concurrency: 0 }, { HOST: '0.0.0.0' });
    const fromPlugins = ['a plugin refuses too'];
    expect(() => assertStartConfig(cfg, { api: true }, fromPlugins)).toThrow(StartConfigError);
    try {
      assertStartConfig(cfg, { api: true }, fromPlugins);
    } catch (err) {
      expect((err as StartConfigError).problems).toHaveLength(3);
      expect((err as Error).message).toMatch(/refusing to start:\n {2}- .*CONCURRENCY[\s\S]*non-loopback[\s\S]*a plugin refuses too/);
    }
  });

  it('environment variables are read through a schema: every bad one named, with what it must be and what it was', () => {
    expect(() => config({ TIDEFLOW_CONCURRENCY: 'abc' })).toThrow(/^TIDEFLOW_CONCURRENCY must be an integer 1\.\.1000, got "abc"$/);
    try {
      config({ TIDEFLOW_CONCURRENCY: '0', PORT: '70000', REDIS_URL: 'localhost:6379', TIDEFLOW_NO_INSTALL: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvSettingsError);
      expect((err as EnvSettingsError).problems).toEqual([
        'PORT must be an integer 0..65535, got 70000',
        'REDIS_URL must be a string matching ^(rediss?|unix)://, got "localhost:6379"',
        'TIDEFLOW_NO_INSTALL must be 1 or 0 (true or false), got "maybe"',
        'TIDEFLOW_CONCURRENCY must be an integer 1..1000, got 0',
      ]);
    }
    // Unset and empty mean "the default"; 1/true/yes and 0/false/no are booleans.
    expect(config({ TIDEFLOW_CONCURRENCY: '', PORT: ' 8080 ', TIDEFLOW_NO_INSTALL: 'true' })).toMatchObject({ concurrency: 8, port: 8080, noInstall: true });
  });
});
