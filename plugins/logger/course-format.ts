import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { NewRecord, RecordBatch } from '../../core/store/record-store.js';

/**
 * The course project's log body (what its daemon POSTed to its log service),
 * accepted by `POST /logs` and stored in the same tables as tideflow's own
 * records.
 *
 * Units, as the course project's kernel module reported them, and how they are stored:
 * - `current_time`: an ISO-8601 date-time string ("2026-11-02T10:00:00Z";
 *   without a zone it is taken as UTC; a space instead of "T" is accepted),
 *   or a Unix epoch number: seconds when below 1e11, else milliseconds.
 * - `cpu_usage` / `CPUUsage`: percent (of one core) -> `cpuPct` as is.
 * - `memory_usage` / `MemoryUsage`: percent of total RAM (0..100) -> kept as
 *   `memPct`, and `memBytes = pct / 100 * total_ram_kb * 1024`.
 * - `*_ram_kb`: KiB -> bytes (x 1024). `in_use_ram_kb` -> usedBytes.
 * - `pid` / `PID`: the host PID of the container's process.
 * Killed containers carry no class in this format (class null). The high and
 * low consumption lists are the containers the daemon kept, stored as `kept`
 * rows of class high / low. Extra properties are allowed and ignored.
 */
const Pct = (what: string, max?: number) =>
  Type.Number({ minimum: 0, ...(max !== undefined ? { maximum: max } : {}), description: `${what}, percent` });

const KilledContainer = Type.Object({
  pid: Type.Integer({ minimum: 0, description: 'Host PID' }),
  container_id: Type.String({ minLength: 1, maxLength: 256 }),
  name: Type.String({ maxLength: 512 }),
  memory_usage: Pct('Memory, of total RAM', 100),
  cpu_usage: Pct('CPU, of one core'),
});

const ConsumptionEntry = Type.Object({
  PID: Type.Integer({ minimum: 0, description: 'Host PID' }),
  Name: Type.String({ maxLength: 512 }),
  Cmdline: Type.Optional(Type.String({ maxLength: 4096 })),
  MemoryUsage: Pct('Memory, of total RAM', 100),
  CPUUsage: Pct('CPU, of one core'),
});

const List = <T extends ReturnType<typeof Type.Object>>(item: T) => Type.Array(item, { maxItems: 10_000 });

export const CourseLogSchema = Type.Object(
  {
    current_time: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Number()], {
      description: 'ISO-8601 date-time (UTC if no zone) or Unix epoch (seconds if < 1e11, else ms)',
    }),
    killed_containers: List(KilledContainer),
    high_consumption_containers: List(ConsumptionEntry),
    low_consumption_containers: List(ConsumptionEntry),
    memory_info: Type.Object({
      total_ram_kb: Type.Integer({ minimum: 1, description: 'KiB' }),
      free_ram_kb: Type.Integer({ minimum: 0, description: 'KiB' }),
      in_use_ram_kb: Type.Integer({ minimum: 0, description: 'KiB' }),
    }),
  },
  { description: "The course project's log body" },
);

export type CourseLog = Static<typeof CourseLogSchema>;

export interface FieldProblem {
  /** JSON Pointer into the body, e.g. /killed_containers/0/pid ('' = the body itself). */
  path: string;
  message: string;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** ms since epoch of a course `current_time`, or undefined if it is not a time. */
export function parseCourseTime(v: string | number): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return undefined;
    return Math.round(v < 1e11 ? v * 1000 : v);
  }
  const m = ISO.exec(v.trim());
  if (!m) return undefined;
  const text = m[8] ? v.trim().replace(' ', 'T') : `${v.trim().replace(' ', 'T')}Z`;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Every problem of a body, schema and meaning, at most one per path. An
 * empty list means `courseBatch` accepts it.
 */
export function validateCourseLog(body: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    if (seen.has(path) || problems.length >= 50) return;
    seen.add(path);
    problems.push({ path, message });
  };
  for (const e of Value.Errors(CourseLogSchema, body)) add(e.path, e.message);

  // Checks of meaning, wherever the parts involved are well-typed, so one
  // answer lists everything at fault.
  const b = (body ?? {}) as Partial<Record<keyof CourseLog, unknown>>;
  const t = b.current_time;
  if ((typeof t === 'string' || typeof t === 'number') && !seen.has('/current_time') && parseCourseTime(t) === undefined) {
    add('/current_time', 'must be an ISO-8601 date-time or a Unix epoch number');
  }
  const mi = b.memory_info as Partial<CourseLog['memory_info']> | undefined;
  if (mi && typeof mi === 'object' && Number.isInteger(mi.total_ram_kb)) {
    for (const key of ['free_ram_kb', 'in_use_ram_kb'] as const) {
      const v = mi[key];
      if (Number.isInteger(v) && (v as number) > mi.total_ram_kb!) add(`/memory_info/${key}`, 'must not exceed total_ram_kb');
    }
  }
  return problems;
}

/** Same JSON whatever the key order, so a resent body gets the same key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Idempotency key of a course body: it carries no run id, so the key is its
 * content hash; a daemon retrying the same POST stores it once.
 */
export function courseSourceKey(body: CourseLog): string {
  return `course:${createHash('sha256').update(canonical(body)).digest('hex').slice(0, 32)}`;
}

/** Records of a body that passed validateCourseLog. */
export function courseBatch(body: CourseLog): RecordBatch {
  const time = parseCourseTime(body.current_time);
  if (time === undefined) throw new Error('courseBatch: current_time is not a time (validate first)');
  const totalBytes = body.memory_info.total_ram_kb * 1024;
  const memBytes = (pct: number) => Math.round((pct / 100) * totalBytes);
  const records: NewRecord[] = [
    {
      kind: 'memory',
      time,
      totalBytes,
      freeBytes: body.memory_info.free_ram_kb * 1024,
      usedBytes: body.memory_info.in_use_ram_kb * 1024,
      availableBytes: null,
    },
  ];
  for (const k of body.killed_containers) {
    records.push({
      kind: 'killed', time, containerId: k.container_id, name: k.name, pid: k.pid,
      cpuPct: k.cpu_usage, memPct: k.memory_usage, memBytes: memBytes(k.memory_usage), reason: 'killed by the course daemon',
    });
  }
  for (const [cls, list] of [['high', body.high_consumption_containers], ['low', body.low_consumption_containers]] as const) {
    for (const p of list) {
      records.push({
        kind: 'kept', time, class: cls, name: p.Name, pid: p.PID, cmdline: p.Cmdline ?? null,
        cpuPct: p.CPUUsage, memPct: p.MemoryUsage, memBytes: memBytes(p.MemoryUsage), reason: `${cls} consumption (course daemon)`,
      });
    }
  }
  return { source: courseSourceKey(body), sourceKind: 'course', workflow: null, time, records };
}
