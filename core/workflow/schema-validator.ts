import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CronExpressionParser } from 'cron-parser';
import { DURATION_PATTERN } from './duration.js';

export interface SchemaIssue {
  /** JSON pointer inside the validated value ("" = the value itself). */
  pointer: string;
  message: string;
}

export function isValidCron(expr: string): boolean {
  try {
    CronExpressionParser.parse(expr);
    return expr.trim().split(/\s+/).length >= 5;
  } catch {
    return false;
  }
}

export function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** One Ajv for workflow files and plugin configs: all errors, defaults applied. */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  ajv.addFormat('cron', { type: 'string', validate: isValidCron });
  ajv.addFormat('timezone', { type: 'string', validate: isValidTimezone });
  return ajv;
}

const quote = (v: unknown) => JSON.stringify(v);

/** Turns Ajv errors into pointer + plain-words messages. */
export function describeErrors(errors: ErrorObject[] | null | undefined, value: unknown): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    let pointer = e.instancePath;
    let message: string;
    const actual = pointerGet(value, e.instancePath);
    switch (e.keyword) {
      case 'additionalProperties':
        pointer = `${e.instancePath}/${escapePointer(String(e.params.additionalProperty))}`;
        message = `unknown key "${String(e.params.additionalProperty)}"`;
        break;
      case 'required':
        pointer = `${e.instancePath}/${escapePointer(String(e.params.missingProperty))}`;
        message = 'is required';
        break;
      case 'pattern':
        message = e.params.pattern === DURATION_PATTERN
          ? `${quote(actual)} is not a duration like 10s, 1m`
          : `${quote(actual)} does not match ${String(e.params.pattern)}`;
        break;
      case 'format':
        message = e.params.format === 'cron'
          ? `${quote(actual)} is not a valid cron expression (5 or 6 fields, e.g. "*/5 * * * *")`
          : e.params.format === 'timezone'
            ? `${quote(actual)} is not an IANA time zone like "Europe/Paris"`
            : `${quote(actual)} is not a valid ${String(e.params.format)}`;
        break;
      case 'type':
        // A number that is not whole says which number it was: "must be integer, got number" reads as a contradiction.
        if (e.params.type === 'integer' && typeof actual === 'number') {
          message = `must be a whole number, got ${actual}`;
          break;
        }
        message = `must be ${String(e.params.type)}, got ${actual === null ? 'null' : Array.isArray(actual) ? 'array' : typeof actual}`;
        break;
      case 'enum':
      case 'const':
        message = `${quote(actual)} must be one of ${quote(e.params.allowedValues ?? [e.params.allowedValue])}`;
        break;
      case 'anyOf':
        // Union of literals: the per-branch "const" errors were already reported.
        if (out.some((o) => o.pointer === pointer)) continue;
        message = `${quote(actual)} is not one of the allowed values`;
        break;
      default:
        message = e.message ?? 'is invalid';
    }
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, message });
  }
  return mergeConstErrors(out);
}

/** A union of literals yields one "const" error per branch; say it once. */
function mergeConstErrors(issues: SchemaIssue[]): SchemaIssue[] {
  const byPointer = new Map<string, SchemaIssue[]>();
  for (const i of issues) byPointer.set(i.pointer, [...(byPointer.get(i.pointer) ?? []), i]);
  const out: SchemaIssue[] = [];
  for (const [pointer, list] of byPointer) {
    const consts = list.filter((i) => i.message.includes(' must be one of '));
    if (consts.length > 1) {
      const allowed = consts.flatMap((c) => JSON.parse(c.message.slice(c.message.indexOf(' must be one of ') + 16)) as unknown[]);
      out.push({ pointer, message: `${consts[0]!.message.split(' must be one of ')[0]} must be one of ${quote(allowed)}` });
      out.push(...list.filter((i) => !consts.includes(i) && !i.message.endsWith('is not one of the allowed values')));
    } else {
      out.push(...list);
    }
  }
  return out;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function pointerGet(value: unknown, pointer: string): unknown {
  if (!pointer) return value;
  let cur: unknown = value;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

export type { ValidateFunction };
