import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, onRequestHookHandler } from 'fastify';
import { StringEnum } from '../../core/api/schemas.js';
import { RECORD_KINDS, type LogFilter, type RecordStore, type StoredRecord } from '../../core/store/record-store.js';
import { InvalidCursorError } from '../../core/store/sqlite-record-store.js';
import { CourseLogSchema, courseBatch, validateCourseLog, type CourseLog } from './course-format.js';

export const LOGS_DEFAULT_LIMIT = 100;
export const LOGS_MAX_LIMIT = 1000;

const TimeParam = (what: string) =>
  Type.String({ minLength: 1, maxLength: 64, description: `${what}: ISO-8601 date-time or ms since epoch` });

const KindSchema = StringEnum(RECORD_KINDS, { description: 'spawned / killed / kept containers, or host memory readings' });
const ClassSchema = StringEnum(['high', 'low'] as const);

const FilterProps = {
  from: Type.Optional(TimeParam('Earliest record time, inclusive')),
  to: Type.Optional(TimeParam('Latest record time, inclusive')),
  kind: Type.Optional(KindSchema),
  class: Type.Optional(ClassSchema),
  minCpu: Type.Optional(Type.Number({ minimum: 0, description: 'Only records with CPU% >= this (percent of one core)' })),
};

const LogsQuery = Type.Object(
  {
    ...FilterProps,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LOGS_MAX_LIMIT, default: LOGS_DEFAULT_LIMIT })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: "The previous page's nextCursor" })),
    offset: Type.Optional(Type.Integer({ minimum: 0, description: 'Rows to skip (ignored with cursor)' })),
  },
  { additionalProperties: false },
);
type LogsQuery = Static<typeof LogsQuery>;

const ExportQuery = Type.Object(
  { ...FilterProps, format: Type.Optional(StringEnum(['json', 'csv'] as const, { default: 'json' })) },
  { additionalProperties: false },
);
type ExportQuery = Static<typeof ExportQuery>;

const OptNum = (description: string) => Type.Optional(Type.Number({ description }));
const OptStr = () => Type.Optional(Type.String());

/** A stored record as the API returns it: fields without a value are left out. */
const LogRecordSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: KindSchema,
    time: Type.Number({ description: 'ms since epoch' }),
    at: Type.String({ description: 'time as ISO-8601' }),
    source: Type.String({ description: 'Producing run id (or course:<hash> for POST /logs bodies)' }),
    workflow: OptStr(),
    containerId: OptStr(),
    name: OptStr(),
    image: OptStr(),
    class: Type.Optional(ClassSchema),
    pid: Type.Optional(Type.Integer()),
    cmdline: OptStr(),
    cpuPct: OptNum('percent of one core'),
    memBytes: OptNum('bytes'),
    memPct: OptNum('percent of host RAM (course format)'),
    reason: OptStr(),
    killError: OptStr(),
    totalBytes: OptNum('bytes'),
    freeBytes: OptNum('bytes'),
    availableBytes: OptNum('bytes'),
    usedBytes: OptNum('bytes'),
  },
  { additionalProperties: true },
);

const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    path: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true },
);

export function toApiRecord(r: StoredRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { id: r.id, kind: r.kind, time: r.time, at: new Date(r.time).toISOString(), source: r.source };
  for (const [k, v] of Object.entries(r)) {
    if (v !== null && !(k in out)) out[k] = v;
  }
  return out;
}

const CSV_COLUMNS: Array<[string, (r: StoredRecord) => unknown]> = [
  ['id', (r) => r.id],
  ['time', (r) => r.time],
  ['at', (r) => new Date(r.time).toISOString()],
  ['kind', (r) => r.kind],
  ['source', (r) => r.source],
  ['workflow', (r) => r.workflow],
  ['container_id', (r) => r.containerId],
  ['name', (r) => r.name],
  ['image', (r) => r.image],
  ['class', (r) => r.class],
  ['pid', (r) => r.pid],
  ['cmdline', (r) => r.cmdline],
  ['cpu_pct', (r) => r.cpuPct],
  ['mem_bytes', (r) => r.memBytes],
  ['mem_pct', (r) => r.memPct],
  ['reason', (r) => r.reason],
  ['kill_error', (r) => r.killError],
  ['total_bytes', (r) => r.totalBytes],
  ['free_bytes', (r) => r.freeBytes],
  ['available_bytes', (r) => r.availableBytes],
  ['used_bytes', (r) => r.usedBytes],
];

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = CSV_COLUMNS.map(([name]) => name).join(',');

export function csvLine(r: StoredRecord): string {
  return CSV_COLUMNS.map(([, get]) => csvCell(get(r))).join(',');
}

/** ms of a `from`/`to` query value, or undefined if it is neither a number nor a date-time. */
export function parseTimeParam(v: string): number | undefined {
  if (/^-?\d+$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

function badRequest(reply: FastifyReply, path: string, message: string, errors?: Array<{ path: string; message: string }>) {
  return reply.status(400).send({ statusCode: 400, error: 'Bad Request', message: `${path} ${message}`, path, ...(errors ? { errors } : {}) });
}

/** The filter of a query, or the 400 already sent. */
function toFilter(q: Partial<LogsQuery & ExportQuery>, reply: FastifyReply): LogFilter | undefined {
  const filter: LogFilter = { kind: q.kind, class: q.class, minCpu: q.minCpu };
  for (const key of ['from', 'to'] as const) {
    const v = q[key];
    if (v === undefined) continue;
    const ms = parseTimeParam(v);
    if (ms === undefined) {
      void badRequest(reply, `/querystring/${key}`, 'must be an ISO-8601 date-time or ms since epoch');
      return undefined;
    }
    filter[key] = ms;
  }
  return filter;
}

async function* exportChunks(rows: AsyncIterable<StoredRecord>, format: 'json' | 'csv'): AsyncGenerator<string> {
  // Lines are grouped into chunks of a few hundred so the stream is not one write per row.
  let buf: string[] = [];
  let first = true;
  if (format === 'csv') buf.push(CSV_HEADER + '\n');
  else buf.push('[');
  for await (const r of rows) {
    if (format === 'csv') buf.push(csvLine(r) + '\n');
    else {
      buf.push((first ? '\n' : ',\n') + JSON.stringify(toApiRecord(r)));
      first = false;
    }
    if (buf.length >= 500) {
      yield buf.join('');
      buf = [];
    }
  }
  if (format === 'json') buf.push(first ? ']\n' : '\n]\n');
  yield buf.join('');
}

/**
 * The logger's HTTP routes, over the injected store:
 * - GET /api/logs: filtered, newest first, paginated (cursor or offset).
 * - GET /api/logs/export?format=json|csv: every matching record, streamed.
 * - POST /logs: the course project's log body; 400 with every field path at
 *   fault and nothing stored, else stored once per identical body.
 */
export function logsRoutes(store: RecordStore, opts: { openIngest?: boolean } = {}): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: LogsQuery }>(
      '/api/logs',
      {
        schema: {
          operationId: 'listLogs',
          tags: ['logs'],
          summary: 'Spawned, killed, kept containers and memory readings, newest first',
          description: 'Filter by time, kind, class, minimum CPU%. Page with limit and nextCursor (or offset).',
          querystring: LogsQuery,
          response: {
            200: Type.Object({
              items: Type.Array(LogRecordSchema),
              nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last' }),
              limit: Type.Integer(),
            }),
            400: ErrorBody,
          },
        },
      },
      async (req, reply) => {
        const filter = toFilter(req.query, reply);
        if (!filter) return reply;
        try {
          const { limit = LOGS_DEFAULT_LIMIT, cursor, offset } = req.query;
          const page = await store.queryLogs({ ...filter, limit, cursor, offset });
          return { items: page.items.map(toApiRecord), nextCursor: page.nextCursor, limit };
        } catch (err) {
          if (err instanceof InvalidCursorError) return badRequest(reply, '/querystring/cursor', 'is not a cursor from a previous page');
          throw err;
        }
      },
    );

    app.get<{ Querystring: ExportQuery }>(
      '/api/logs/export',
      {
        schema: {
          operationId: 'exportLogs',
          tags: ['logs'],
          summary: 'Every matching record, streamed as a JSON array or CSV, newest first',
          querystring: ExportQuery,
          response: {
            200: {
              description: 'Every matching record (as an attachment), in the requested format',
              content: {
                'application/json': { schema: Type.Array(LogRecordSchema) },
                'text/csv': { schema: Type.String({ description: `Header line: ${CSV_HEADER}` }) },
              },
            },
            400: ErrorBody,
          },
        },
      },
      async (req, reply) => {
        const filter = toFilter(req.query, reply);
        if (!filter) return reply;
        const format = req.query.format ?? 'json';
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        void reply
          .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
          .header('content-disposition', `attachment; filename="tideflow-logs-${stamp}.${format}"`);
        return reply.send(Readable.from(exportChunks(store.exportLogs(filter), format)));
      },
    );

    // The course daemon's POST: a bearer token is required like every
    // mutating route when the admin app provides its hook, unless the
    // operator opened ingest for an unmodified course daemon (loopback only).
    const requireAdmin = opts.openIngest ? undefined : (app as unknown as { requireAdmin?: onRequestHookHandler }).requireAdmin;
    app.post<{ Body: CourseLog }>(
      '/logs',
      {
        ...(requireAdmin ? { onRequest: requireAdmin } : {}),
        schema: {
          operationId: 'ingestLogs',
          tags: ['logs'],
          summary: "Store a log in the course project's format",
          description:
            'Units: cpu_usage/CPUUsage percent of one core; memory_usage/MemoryUsage percent of total RAM; *_ram_kb KiB; ' +
            'current_time ISO-8601 (UTC if no zone) or Unix epoch. An identical body is stored once.',
          body: CourseLogSchema,
          response: {
            200: Type.Object({ stored: Type.Boolean(), count: Type.Integer(), source: Type.String() }),
            201: Type.Object({ stored: Type.Boolean(), count: Type.Integer(), source: Type.String() }),
            400: ErrorBody,
          },
        },
        // The schema documents the body; validation is ours so a 400 lists every field at fault, not just the first.
        validatorCompiler: () => () => true,
      },
      async (req, reply) => {
        const problems = validateCourseLog(req.body);
        if (problems.length > 0) {
          const errors = problems.map((p) => ({ path: `/body${p.path}`, message: p.message }));
          return badRequest(reply, errors[0]!.path, `${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`, errors);
        }
        const batch = courseBatch(req.body);
        const out = await store.ingest(batch);
        return reply.status(out.stored ? 201 : 200).send({ ...out, source: batch.source });
      },
    );
  };
}
