import { createHash } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { NewRecord, RecordBatch } from '../shared/store/record-store.js';

/**
 * The log bodies the course projects' daemons POST to their log service,
 * accepted by `POST /logs` (and `POST /log`) and stored in the same tables as
 * tideflow's own records. Three shapes are known; a body is matched to one by
 * its shape (see `detectCourseFormat`). Extra properties are allowed and
 * ignored.
 *
 * (a) `system-log`: `{ current_time, killed_containers[], high_consumption_containers[],
 *     low_consumption_containers[], memory_info }`.
 * (b) `ram-killed`: `{ RAMmemory: [{totalram, freeram, usedram, timestamp}],
 *     KilledProcesses: [{pid, name, container_id, vsz, rss, memory_usage, cpu_usage, timestamp}] }`.
 * (c) `process`: `{ timestamp, process: {pid, name, cmd_line, vsz, rss, memory_usage, cpu_usage} }`
 *     (one killed process per body; its daemon posts to `POST /log`).
 *
 * Units, as the course daemons report them, and how they are stored:
 * - times: an ISO-8601 date-time ("2026-11-02T10:00:00Z"; a space instead of
 *   "T" is accepted; WITHOUT a zone it is read as UTC, never as the server's
 *   local time, so the same body means the same instant on every host), or a
 *   Unix epoch number (seconds when below 1e11, else milliseconds). Accepted
 *   between 2000-01-01T00:00:00Z and one day after now: anything else is a
 *   clock or unit error, and a far-future record would never be purged.
 * - `cpu_usage` / `CPUUsage`: percent of one core (0..102400, i.e. 1024 cores) -> `cpuPct`.
 * - `memory_usage` / `MemoryUsage`: percent of total RAM (0..100) -> `memPct`;
 *   in (a) also `memBytes = pct / 100 * total_ram_kb * 1024`.
 * - `*_ram_kb` (a), `totalram`/`freeram`/`usedram` (b), `vsz`/`rss` (b, c):
 *   KiB (at most 2^40 KiB, 1 PiB) -> bytes (x 1024); `rss` -> `memBytes`.
 * - `pid` / `PID`: host PID, 0..4194304 (Linux's PID_MAX_LIMIT).
 * Records: (a) one memory row, one `killed` row per killed container (class
 * null), `kept` rows of class high / low for the consumption lists; (b) one
 * memory row per RAMmemory entry and one `killed` row per KilledProcesses
 * entry, each at its own timestamp; (c) one `killed` row.
 */

/** Earliest accepted record time: 2000-01-01T00:00:00Z. */
export const MIN_RECORD_TIME = Date.UTC(2000, 0, 1);
/** Latest accepted record time, relative to now: one day of clock skew. */
export const MAX_FUTURE_MS = 86_400_000;
const MAX_KIB = 2 ** 40;
const MAX_PID = 4_194_304;
const MAX_CPU_PCT = 102_400;

const Pct = (what: string, max: number) => Type.Number({ minimum: 0, maximum: max, description: `${what}, percent` });
const MemPct = () => Pct('Memory, of total RAM', 100);
const CpuPct = () => Pct('CPU, of one core', MAX_CPU_PCT);
const Pid = (description = 'Host PID') => Type.Integer({ minimum: 0, maximum: MAX_PID, description });
const KiB = (min = 0) => Type.Integer({ minimum: min, maximum: MAX_KIB, description: 'KiB' });
const Name = () => Type.String({ maxLength: 512 });
/** Rust's serde writes an empty Option as null. */
const OptionalText = (maxLength: number) => Type.Optional(Type.Union([Type.String({ maxLength }), Type.Null()]));
const List = <T extends TSchema>(item: T) => Type.Array(item, { maxItems: 10_000 });
const TimeValue = (what: string) =>
  Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Number()], {
    description: `${what}: ISO-8601 date-time (UTC if no zone) or Unix epoch (seconds if < 1e11, else ms), 2000-01-01 .. now + 1 day`,
  });

// (a) SystemLog
const KilledContainer = Type.Object({
  pid: Pid(),
  container_id: Type.String({ minLength: 1, maxLength: 256 }),
  name: Name(),
  memory_usage: MemPct(),
  cpu_usage: CpuPct(),
});

const ConsumptionEntry = Type.Object({
  PID: Pid(),
  Name: Name(),
  Cmdline: OptionalText(4096),
  MemoryUsage: MemPct(),
  CPUUsage: CpuPct(),
});

export const SystemLogSchema = Type.Object(
  {
    current_time: TimeValue('When the daemon wrote the log'),
    killed_containers: List(KilledContainer),
    high_consumption_containers: List(ConsumptionEntry),
    low_consumption_containers: List(ConsumptionEntry),
    memory_info: Type.Object({
      total_ram_kb: KiB(1),
      free_ram_kb: KiB(),
      in_use_ram_kb: KiB(),
    }),
  },
  { title: 'SystemLog', description: '(a) A course daemon\'s SystemLog' },
);
export type SystemLog = Static<typeof SystemLogSchema>;
/** The name the first format had; kept for callers of the old single format. */
export const CourseLogSchema = SystemLogSchema;
export type CourseLog = SystemLog;

// (b) RAMmemory + KilledProcesses
const RamReading = Type.Object({
  totalram: KiB(1),
  freeram: KiB(),
  usedram: KiB(),
  timestamp: TimeValue('When RAM was read'),
});

const KilledProcess = Type.Object({
  pid: Pid(),
  name: Name(),
  container_id: OptionalText(256),
  vsz: KiB(),
  rss: KiB(),
  memory_usage: MemPct(),
  cpu_usage: CpuPct(),
  timestamp: TimeValue('When the process was killed'),
});

export const RamKilledLogSchema = Type.Object(
  { RAMmemory: List(RamReading), KilledProcesses: List(KilledProcess) },
  { title: 'RamKilledLog', description: '(b) RAM readings and killed processes, each with its own timestamp' },
);
export type RamKilledLog = Static<typeof RamKilledLogSchema>;

// (c) one process
export const ProcessLogSchema = Type.Object(
  {
    timestamp: TimeValue('When the process was killed'),
    process: Type.Object({
      pid: Pid(),
      name: Name(),
      cmd_line: OptionalText(4096),
      vsz: KiB(),
      rss: KiB(),
      memory_usage: MemPct(),
      cpu_usage: CpuPct(),
    }),
  },
  { title: 'ProcessLog', description: '(c) One killed process (its daemon posts to POST /log)' },
);
export type ProcessLog = Static<typeof ProcessLogSchema>;

/** Every accepted body, for the OpenAPI document. */
export const CourseBodySchema = Type.Union([SystemLogSchema, RamKilledLogSchema, ProcessLogSchema], {
  description: 'One of the course daemons\' log formats, detected by shape',
});

export type CourseFormatName = 'system-log' | 'ram-killed' | 'process';

interface FormatSpec {
  name: CourseFormatName;
  label: string;
  check: ReturnType<typeof TypeCompiler.Compile>;
  keys: readonly string[];
}

const FORMATS: readonly FormatSpec[] = [
  {
    name: 'system-log',
    label: '(a) SystemLog {current_time, killed_containers, high_consumption_containers, low_consumption_containers, memory_info}',
    check: TypeCompiler.Compile(SystemLogSchema),
    keys: ['current_time', 'killed_containers', 'high_consumption_containers', 'low_consumption_containers', 'memory_info'],
  },
  {
    name: 'ram-killed',
    label: '(b) {RAMmemory, KilledProcesses}',
    check: TypeCompiler.Compile(RamKilledLogSchema),
    keys: ['RAMmemory', 'KilledProcesses'],
  },
  {
    name: 'process',
    label: '(c) {timestamp, process}',
    check: TypeCompiler.Compile(ProcessLogSchema),
    keys: ['timestamp', 'process'],
  },
];

/** The accepted formats, as a 400 names them. */
export const ACCEPTED_FORMATS = FORMATS.map((f) => f.label);

export type CourseBody =
  | { format: 'system-log'; body: SystemLog }
  | { format: 'ram-killed'; body: RamKilledLog }
  | { format: 'process'; body: ProcessLog };

export interface FieldProblem {
  /** JSON Pointer into the body, e.g. /killed_containers/0/pid ('' = the body itself). */
  path: string;
  message: string;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** ms since epoch of a course time value (any range), or undefined if it is not a time. */
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

/** Why a time value is refused (unparseable or out of range), or undefined if it is fine. */
export function courseTimeProblem(v: unknown, now: number): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined; // the schema reports the type
  const ms = parseCourseTime(v);
  if (ms === undefined) return 'must be an ISO-8601 date-time or a Unix epoch number';
  const max = now + MAX_FUTURE_MS;
  if (ms < MIN_RECORD_TIME || ms > max) {
    return `must be between ${new Date(MIN_RECORD_TIME).toISOString()} and ${new Date(max).toISOString()} (now + 1 day); got ${JSON.stringify(v)}`;
  }
  return undefined;
}

type Problems = { add(path: string, message: string): void; list: FieldProblem[] };

function problemList(): Problems {
  const list: FieldProblem[] = [];
  const seen = new Set<string>();
  return {
    list,
    add(path, message) {
      if (seen.has(path) || list.length >= 50) return;
      seen.add(path);
      list.push({ path, message });
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Every problem of a body against one format, schema and meaning, at most one
 * per path, so one answer lists everything at fault.
 */
function problemsOf(spec: FormatSpec, body: unknown, now: number): FieldProblem[] {
  const p = problemList();
  for (const e of spec.check.Errors(body)) {
    p.add(e.path, e.message);
    if (p.list.length >= 50) break;
  }
  if (!isObject(body)) return p.list;
  const time = (path: string, v: unknown) => {
    const why = courseTimeProblem(v, now);
    if (why) p.add(path, why);
  };
  if (spec.name === 'system-log') {
    time('/current_time', body.current_time);
    const mi = body.memory_info;
    if (isObject(mi) && Number.isInteger(mi.total_ram_kb)) {
      for (const key of ['free_ram_kb', 'in_use_ram_kb'] as const) {
        const v = mi[key];
        if (Number.isInteger(v) && (v as number) > (mi.total_ram_kb as number)) p.add(`/memory_info/${key}`, 'must not exceed total_ram_kb');
      }
    }
  } else if (spec.name === 'ram-killed') {
    asArray(body.RAMmemory).forEach((r, i) => {
      if (!isObject(r)) return;
      time(`/RAMmemory/${i}/timestamp`, r.timestamp);
      for (const key of ['freeram', 'usedram'] as const) {
        if (Number.isInteger(r[key]) && Number.isInteger(r.totalram) && (r[key] as number) > (r.totalram as number)) {
          p.add(`/RAMmemory/${i}/${key}`, 'must not exceed totalram');
        }
      }
    });
    asArray(body.KilledProcesses).forEach((k, i) => {
      if (isObject(k)) time(`/KilledProcesses/${i}/timestamp`, k.timestamp);
    });
    if (Array.isArray(body.RAMmemory) && Array.isArray(body.KilledProcesses) && body.RAMmemory.length + body.KilledProcesses.length === 0) {
      p.add('', 'must hold at least one RAMmemory or KilledProcesses entry');
    }
  } else {
    time('/timestamp', body.timestamp);
  }
  return p.list;
}

export type CourseValidation =
  | { ok: true; value: CourseBody }
  | { ok: false; closest: CourseFormatName; closestLabel: string; problems: FieldProblem[] };

/**
 * Matches a body to the format its shape names: the one sharing the most
 * top-level keys with it (ties: a, b, c). A body valid in that format is
 * accepted; otherwise the problems are against that, the closest, format.
 * `now` bounds the accepted times (now + 1 day).
 */
export function validateCourseBody(body: unknown, now: number = Date.now()): CourseValidation {
  const keys = isObject(body) ? Object.keys(body) : [];
  let best = FORMATS[0]!;
  let bestOverlap = -1;
  for (const spec of FORMATS) {
    const overlap = spec.keys.filter((k) => keys.includes(k)).length;
    if (overlap > bestOverlap) {
      best = spec;
      bestOverlap = overlap;
    }
  }
  const problems = problemsOf(best, body, now);
  if (problems.length === 0) return { ok: true, value: { format: best.name, body } as CourseBody };
  return { ok: false, closest: best.name, closestLabel: best.label, problems };
}

/** Problems of a body as format (a), the first format (kept for its callers and tests). */
export function validateCourseLog(body: unknown, now: number = Date.now()): FieldProblem[] {
  return problemsOf(FORMATS[0]!, body, now);
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
 * content hash; a daemon retrying the same POST stores it once. Format (a)
 * hashes the body alone (the key it always had); (b) and (c) prefix their
 * format name, so equal JSON in two formats cannot collide.
 */
export function courseSourceKey(body: unknown, format: CourseFormatName = 'system-log'): string {
  const text = format === 'system-log' ? canonical(body) : `${format}:${canonical(body)}`;
  return `course:${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

function timeOf(v: string | number): number {
  const t = parseCourseTime(v);
  if (t === undefined) throw new Error('course body: a time did not parse (validate first)');
  return t;
}

/** Records of a (a) SystemLog body that passed validation. */
export function courseBatch(body: SystemLog): RecordBatch {
  const time = timeOf(body.current_time);
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

/** Records of a (b) body: a memory row per reading, a killed row per process, each at its own time. */
export function ramKilledBatch(body: RamKilledLog): RecordBatch {
  const records: NewRecord[] = [];
  for (const r of body.RAMmemory) {
    records.push({
      kind: 'memory', time: timeOf(r.timestamp),
      totalBytes: r.totalram * 1024, freeBytes: r.freeram * 1024, usedBytes: r.usedram * 1024, availableBytes: null,
    });
  }
  for (const k of body.KilledProcesses) {
    records.push({
      kind: 'killed', time: timeOf(k.timestamp), containerId: k.container_id ?? null, name: k.name, pid: k.pid,
      cpuPct: k.cpu_usage, memPct: k.memory_usage, memBytes: k.rss * 1024, reason: 'killed by the course daemon',
    });
  }
  const time = Math.max(...records.map((r) => r.time));
  return { source: courseSourceKey(body, 'ram-killed'), sourceKind: 'course', workflow: null, time, records };
}

/** Records of a (c) body: one killed process. */
export function processBatch(body: ProcessLog): RecordBatch {
  const time = timeOf(body.timestamp);
  const p = body.process;
  return {
    source: courseSourceKey(body, 'process'),
    sourceKind: 'course',
    workflow: null,
    time,
    records: [
      {
        kind: 'killed', time, name: p.name, pid: p.pid, cmdline: p.cmd_line ?? null,
        cpuPct: p.cpu_usage, memPct: p.memory_usage, memBytes: p.rss * 1024, reason: 'killed by the course daemon',
      },
    ],
  };
}

/** Records of any validated course body. */
export function courseBodyBatch(v: CourseBody): RecordBatch {
  if (v.format === 'system-log') return courseBatch(v.body);
  if (v.format === 'ram-killed') return ramKilledBatch(v.body);
  return processBatch(v.body);
}
