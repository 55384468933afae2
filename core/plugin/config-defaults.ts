import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * A plugin config with its schema's defaults applied, validated — what the
 * engine hands a job on load; plugins use it for direct calls (CLI, tests).
 */
export function configWithDefaults<S extends TSchema>(schema: S, partial: Partial<Static<S>>, plugin: string): Static<S> {
  const cfg = Value.Default(schema, structuredClone(partial)) as Static<S>;
  if (!Value.Check(schema, cfg)) {
    const e = [...Value.Errors(schema, cfg)][0];
    throw new Error(`invalid ${plugin} config at ${e?.path || '/'}: ${e?.message}`);
  }
  return cfg;
}
