import { Type } from '@sinclair/typebox';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../../cli/builtin-plugins.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { createContainer } from '../../core/di/container.js';
import { silentLogger } from '../../core/logging/logger.js';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { loadWorkflowFile } from '../../core/workflow/workflow-loader.js';
import { NoopPlugin, RecordPlugin } from '../support/test-plugins.js';

const refuseToLoad = (source: string) => async () => {
  throw new Error(`${source}: its code was loaded`);
};

describe('plugin registry', () => {
  it('checks the built-in workflow against the built-ins\' manifests without loading any plugin code', async () => {
    const registry = new PluginRegistry();
    await registry.registerModules(BUILTIN_PLUGINS.map((p) => ({ ...p, load: refuseToLoad(p.source) })));
    expect(registry.names()).toEqual(['analyzer', 'charts', 'logger', 'spawner']);
    const result = loadWorkflowFile('workflows/container-lifecycle.json', registry);
    expect(result.ok ? [] : result.errors.map(String)).toEqual([]);
    expect(result.ok && Object.keys(result.workflow.jobs).sort()).toEqual(['analyze', 'chart', 'log', 'spawn']);
    // Creating one is what loads its code.
    registry.useServices(createContainer({ config: loadEngineConfig({ dataDir: os.tmpdir() }, {}), logger: silentLogger() }), loadEngineConfig({}, {}), silentLogger());
    await expect(registry.get('charts')!.create()).rejects.toThrow(/plugins\/charts: its code was loaded/);
  });

  it('creates a plugin only once services are given, and once', async () => {
    const registry = new PluginRegistry();
    const entry = registry.register(NoopPlugin, 'test');
    expect(() => entry.instance()).toThrow(/not created yet/);
    await expect(entry.create()).rejects.toThrow(/no services yet/);
    const fresh = new PluginRegistry();
    const noop = fresh.register(NoopPlugin, 'test');
    fresh.useServices(createContainer({ config: loadEngineConfig({}, {}), logger: silentLogger() }), loadEngineConfig({}, {}), silentLogger());
    const created = await noop.create();
    expect(await noop.create()).toBe(created);
    expect(noop.instance()).toBe(created);
  });

  it('refuses what is not a plugin, a duplicate name, and a lazy module whose class is another plugin', async () => {
    const registry = new PluginRegistry();
    expect(() => registry.register(class NotAPlugin {}, 'pkg-x')).toThrow(/pkg-x: not a tideflow plugin class/);
    registry.register(NoopPlugin, 'first');
    expect(() => registry.register(NoopPlugin, 'second')).toThrow(/second: a plugin named "noop" is already registered \(first\)/);
    const lazy = registry.registerLazy({ name: 'lazy', version: '1.0.0', configSchema: Type.Object({}) }, 'pkg-lazy', async () => ({ default: RecordPlugin }));
    registry.useServices(createContainer({ config: loadEngineConfig({}, {}), logger: silentLogger() }), loadEngineConfig({}, {}), silentLogger());
    await expect(lazy.create()).rejects.toThrow(/pkg-lazy: must default-export the class of plugin "lazy"/);
  });
});
