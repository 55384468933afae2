import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Environment settings that do not parse: every problem, each naming its variable. */
export class EnvSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `bad settings in the environment:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EnvSettingsError';
  }
}

/** What a setting's schema accepts, in words, for the error message. */
function expected(schema: TSchema): string {
  if (typeof schema.description === 'string' && schema.description.startsWith('must be ')) return schema.description.slice(8);
  const s = schema as TSchema & { minimum?: number; maximum?: number; pattern?: string; anyOf?: TSchema[] };
  switch (schema[Kind]) {
    case 'Integer':
    case 'Number': {
      const what = schema[Kind] === 'Integer' ? 'an integer' : 'a number';
      if (s.minimum !== undefined && s.maximum !== undefined) return `${what} ${s.minimum}..${s.maximum}`;
      if (s.minimum !== undefined) return `${what} ≥ ${s.minimum}`;
      return what;
    }
    case 'Boolean':
      return '1 or 0 (true or false)';
    case 'Union':
      return `one of ${(s.anyOf ?? []).map((o) => JSON.stringify((o as { const?: unknown }).const)).join(', ')}`;
    case 'String':
      return s.pattern ? `a string matching ${s.pattern}` : 'a non-empty string';
    default:
      return 'valid';
  }
}

function convert(schema: TSchema, raw: string): unknown {
  switch (schema[Kind]) {
    case 'Integer':
    case 'Number':
      return /^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
    case 'Boolean':
      return /^(1|true|yes)$/i.test(raw.trim()) ? true : /^(0|false|no)$/i.test(raw.trim()) ? false : raw;
    default:
      return raw;
  }
}

/**
 * Reads the settings a schema declares from environment variables: the
 * schema's keys are variable names, each value's type says how to read it
 * (numbers, 1/0 booleans, strings; unset or empty means absent, so defaults
 * apply). Throws an EnvSettingsError naming every bad variable, what it must
 * be and what it was.
 */
export function parseEnvSettings<S extends TObject>(schema: S, env: NodeJS.ProcessEnv): Static<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, prop] of Object.entries(schema.properties) as Array<[string, TSchema]>) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      if ('default' in prop) out[name] = structuredClone(prop.default);
      continue;
    }
    const value = convert(prop, raw);
    if (!Value.Check(prop, value)) {
      const shown = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? raw.trim() : JSON.stringify(raw);
      problems.push(`${name} must be ${expected(prop)}, got ${shown}`);
      continue;
    }
    out[name] = value;
  }
  if (problems.length) throw new EnvSettingsError(problems);
  return out as Static<S>;
}
