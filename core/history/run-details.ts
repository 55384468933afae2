import { Type, type Static } from '@sinclair/typebox';
import { RunStatusSchema, type RunRecord } from './run-record.js';

/** Bytes of a run's input, and of its output, kept at most (their JSON); a larger one is kept cut, with its size. */
export const RUN_IO_MAX_BYTES = 64 * 1024;

export const RunIoValueSchema = Type.Object({
  bytes: Type.Integer({ description: 'Size of the whole value as JSON' }),
  truncated: Type.Boolean({ description: `true when it was over ${RUN_IO_MAX_BYTES} bytes: \`preview\` holds the start of its JSON text, \`value\` is absent` }),
  value: Type.Optional(Type.Unknown({ description: 'The value itself, when not truncated' })),
  preview: Type.Optional(Type.String({ description: 'The start of its JSON text, when truncated' })),
});
export type RunIoValue = Static<typeof RunIoValueSchema>;

export const RunIoSchema = Type.Object({
  runId: Type.String(),
  input: Type.Optional(RunIoValueSchema),
  output: Type.Optional(RunIoValueSchema),
});
export type RunIo = Static<typeof RunIoSchema>;

export const RunAttemptSchema = Type.Object({
  attempt: Type.Integer({ description: '1 is the first' }),
  status: Type.Union([RunStatusSchema, Type.Literal('interrupted')], {
    description: '`retrying`: this attempt failed and another followed; `interrupted`: its worker died mid-run',
  }),
  startedAt: Type.Optional(Type.Number({ description: 'ms since epoch' })),
  finishedAt: Type.Optional(Type.Number({ description: 'ms since epoch: when it ended (for an interrupted one, when a later attempt found it lost)' })),
  durationMs: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String({ description: 'Why it failed (or was interrupted)' })),
  host: Type.Optional(Type.String()),
});
export type RunAttempt = Static<typeof RunAttemptSchema>;

export const RunAttemptsSchema = Type.Object({
  runId: Type.String(),
  attempts: Type.Array(RunAttemptSchema, { description: 'Oldest first' }),
});

/** The JSON text of a value, kept whole up to `maxBytes` or cut with its size: the stored form of RunIoValue. */
export function storedIoValue(value: unknown, maxBytes = RUN_IO_MAX_BYTES): string | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    json = JSON.stringify({ unserializable: err instanceof Error ? err.message : String(err) });
  }
  if (json === undefined) return undefined; // a function, a symbol: nothing JSON can hold
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return `{"bytes":${bytes},"truncated":false,"value":${json}}`;
  // Cut on bytes; a character split in two is dropped.
  const preview = Buffer.from(json).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  return JSON.stringify({ bytes, truncated: true, preview });
}

/** The attempt a record describes, when it has started. */
export function latestAttempt(run: RunRecord): RunAttempt | undefined {
  if (run.startedAt === undefined || run.attempts < 1 || run.status === 'queued' || run.status === 'skipped') return undefined;
  return {
    attempt: run.attempts,
    status: run.status,
    startedAt: run.startedAt,
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}),
    ...(run.durationMs !== undefined ? { durationMs: run.durationMs } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
    ...(run.host !== undefined ? { host: run.host } : {}),
  };
}

/** The stored summary of the attempt a record describes (the field `attempt:<n>` of the run's details). */
export function attemptSummary(run: RunRecord): { field: string; json: string } | undefined {
  const a = latestAttempt(run);
  return a && { field: `attempt:${a.attempt}`, json: JSON.stringify(a) };
}

/**
 * Every attempt of a run, oldest first: the summaries saved of attempts that
 * another followed, the latest one as the record itself says (it is newer
 * than any summary of the same number), and the interrupted ones the record
 * lists (which no summary ended).
 */
export function runAttempts(run: RunRecord, details: Record<string, string>): RunAttempt[] {
  const byNumber = new Map<number, RunAttempt>();
  for (const [field, json] of Object.entries(details)) {
    if (!field.startsWith('attempt:')) continue;
    try {
      const a = JSON.parse(json) as RunAttempt;
      if (Number.isInteger(a.attempt)) byNumber.set(a.attempt, a);
    } catch {
      // a field written by hand: left out
    }
  }
  const latest = latestAttempt(run);
  if (latest) byNumber.set(latest.attempt, latest);
  const out = [...byNumber.values()];
  for (const lost of run.interrupted ?? []) {
    // The lost attempt's summary (if any) still says `running`: it never ended.
    const i = out.findIndex((a) => a.attempt === lost.attempt && a.status === 'running' && (lost.startedAt === undefined || a.startedAt === lost.startedAt));
    if (i >= 0) out.splice(i, 1);
    out.push({ attempt: lost.attempt, status: 'interrupted', startedAt: lost.startedAt, finishedAt: lost.detectedAt, error: lost.reason });
  }
  // Oldest first; a later attempt of the same number (one taken over from a lost worker) after the lost one.
  return out.sort((x, y) => x.attempt - y.attempt || (x.status === 'interrupted' ? -1 : y.status === 'interrupted' ? 1 : 0));
}

/** A stored io value, or undefined when absent or unreadable. */
export function parseIoValue(stored: string | undefined): RunIoValue | undefined {
  if (stored === undefined) return undefined;
  try {
    return JSON.parse(stored) as RunIoValue;
  } catch {
    return undefined;
  }
}
