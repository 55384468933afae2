import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { parseEnvSettings } from '../../core/config/env-settings.js';
import { RecordStoreSettingsSchema } from '../../plugins/shared/store/record-store-service.js';
import { openConfiguredRecordStore } from '../../plugins/shared/store/open-record-store.js';
import { redactDatabaseUrl } from '../../plugins/shared/store/postgres-record-store.js';

describe('record store configuration', () => {
  it('reads TIDEFLOW_DATABASE_URL and TIDEFLOW_HOST_NAME, defaulting to SQLite and the machine name', () => {
    const plain = loadEngineConfig({}, {});
    expect(parseEnvSettings(RecordStoreSettingsSchema, plain.env).TIDEFLOW_DATABASE_URL).toBeUndefined();
    expect(plain.hostName).toBe(os.hostname());
    const shared = loadEngineConfig({}, { TIDEFLOW_DATABASE_URL: 'postgres://u:p@db:5432/tf', TIDEFLOW_HOST_NAME: ' host-b ' });
    expect(parseEnvSettings(RecordStoreSettingsSchema, shared.env).TIDEFLOW_DATABASE_URL).toBe('postgres://u:p@db:5432/tf');
    expect(shared.hostName).toBe('host-b');
    expect(loadEngineConfig({}, { TIDEFLOW_DATABASE_URL: '', TIDEFLOW_HOST_NAME: '' }).hostName).toBe(os.hostname());
    expect(parseEnvSettings(RecordStoreSettingsSchema, { TIDEFLOW_DATABASE_URL: '' })).toEqual({});
  });

  it('refuses a database URL that is not PostgreSQL, without echoing its credentials', () => {
    expect(() => openConfiguredRecordStore({ dataDir: os.tmpdir(), databaseUrl: 'mysql://root:hunter2@db/tf' })).toThrow(/TIDEFLOW_DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
    try {
      openConfiguredRecordStore({ dataDir: os.tmpdir(), databaseUrl: 'mysql://root:hunter2@db/tf' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('names a PostgreSQL store by its URL without the password', () => {
    expect(redactDatabaseUrl('postgres://tideflow:s3cret@db-host:5432/tideflow')).toBe('postgres://tideflow:***@db-host:5432/tideflow');
    expect(redactDatabaseUrl('postgres://db-host/tideflow')).toBe('postgres://db-host/tideflow');
  });
});
