import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../core/workflow/duration.js';

/**
 * The log job's `config`. Every field has a default: the built-in workflow's
 * log job has no config at all.
 */
export const LoggerConfigSchema = Type.Object(
  {
    retention: Type.String({
      pattern: DURATION_PATTERN,
      default: '7d',
      description: 'Records older than this are deleted (by the time they were observed), e.g. "7d", "12h".',
    }),
    purgeEvery: Type.String({
      pattern: DURATION_PATTERN,
      default: '1h',
      description:
        'Retention is applied by the log job itself, at most once per this interval (the last purge time is kept in the store, so every worker agrees).',
    }),
  },
  { additionalProperties: false },
);

export type LoggerConfig = Static<typeof LoggerConfigSchema>;

/** What the logger reads from the environment (core/config/env-settings.ts). */
export const LoggerSettingsSchema = Type.Object({
  /**
   * Accept the course project's `POST /logs` without a token (an existing
   * course daemon sends none). Refused at start unless HOST is loopback.
   */
  TIDEFLOW_OPEN_LOG_INGEST: Type.Optional(Type.Boolean()),
});
