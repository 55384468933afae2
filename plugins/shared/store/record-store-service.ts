import { Type } from '@sinclair/typebox';
import { parseEnvSettings } from '../../../core/config/env-settings.js';
import type { ServiceProvider } from '../../../core/plugin/service-provider.js';
import { SharedTokens } from '../tokens.js';
import type { RecordStore } from './record-store.js';

export const RecordStoreSettingsSchema = Type.Object({
  /** postgres://... puts the record store in PostgreSQL (shared by hosts); unset: SQLite in the data dir. Checked (and redacted) when opened. */
  TIDEFLOW_DATABASE_URL: Type.Optional(Type.String()),
});

/**
 * The record store the logger writes and the charts read: SharedTokens.RecordStore,
 * opened on first use (a worker whose jobs never touch it never opens it),
 * the `store` health check, closed when the engine stops.
 */
export const recordStoreService: ServiceProvider = {
  name: 'record-store',
  async register({ container, config, env, log }) {
    const { TIDEFLOW_DATABASE_URL: databaseUrl } = parseEnvSettings(RecordStoreSettingsSchema, env);
    // Imported here, not at the top: this module is loaded with the manifests (tideflow validate), Kysely and the drivers are not.
    const [{ instanceCachingFactory }, { openConfiguredRecordStore }] = await Promise.all([import('tsyringe'), import('./open-record-store.js')]);
    let store: RecordStore | undefined;
    const open = () => (store ??= openConfiguredRecordStore({ dataDir: config.dataDir, databaseUrl, hostName: config.hostName }, log));
    container.register(SharedTokens.RecordStore, { useFactory: instanceCachingFactory(open) });
    return {
      healthChecks: {
        store: async () => {
          const s = open();
          const stats = await s.stats();
          return { status: 'up', reason: `${stats.records} records in ${s.location}` };
        },
      },
      async close() {
        await store?.close();
      },
    };
  },
};
