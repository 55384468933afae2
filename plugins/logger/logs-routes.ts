import { Readable } from 'node:stream';
import { KindGuard, Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
// The host's decorators (app.requireAdmin) are typed by the admin app's `declare module 'fastify'`.
import type {} from '../../core/api/admin-app.js';
import { BadRequestError } from '../../core/api/error-handler.js';
import { errorRef, StringEnum, type FieldError } from '../../core/api/schemas.js';
import { CONTAINER_CLASSES } from '../shared/records/container-records.js';
import {
  InvalidCursorError,
  RECORD_KINDS,
  RecordFieldsSchema,
  StoredRecordSchema,
  type LogFilter,
  type RecordStore,
  type StoredRecord,
} from '../shared/store/record-store.js';
import { ACCEPTED_FORMATS, CourseBodySchema, courseBodyBatch, validateCourseBody } from './course-format.js';

export const LOGS_DEFAULT_LIMIT = 100;
export const LOGS_MAX_LIMIT = 1000;

const TimeParam = (what: string) =>
  Type.String({ minLength: 1, maxLength: 64, description: `${what}: ISO-8601 date-time or ms since epoch` });

const KindSchema = StringEnum(RECORD_KINDS, { description: 'spawned / killed / kept containers, or host memory readings' });
const ClassSchema = StringEnum(CONTAINER_CLASSES);

const FilterProps = {
  from: Type.Optional(TimeParam('Earliest record time, inclusive')),
  to: Type.Optional(TimeParam('Latest record time, inclusive')),
  kind: Type.Optional(KindSchema),
  class: Type.Optional(ClassSchema),
  minCpu: Type.Optional(Type.Number({ minimum: 0, description: 'Only records with CPU% >= this (percent of one core)' })),
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Only records stored by this host (TIDEFLOW_HOST_NAME)' })),
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

/**
 * A stored field as the API returns it: left out when null, so optional and
 * never null; a union of literals (the class) is documented as one enum, as
 * the query parameters are.
 */
function apiField(schema: TSchema): TSchema {
  const members = (s: TSchema): TSchema[] => (KindGuard.IsUnion(s) ? s.anyOf.flatMap(members) : [s]);
  const kinds = members(schema).filter((s) => !KindGuard.IsNull(s));
  const field =
    kinds.length === 1 ? kinds[0]! : kinds.every((s) => KindGuard.IsLiteral(s)) ? StringEnum(kinds.map((s) => String(s.const))) : Type.Union(kinds);
  return Type.Optional(field);
}

/** The fields a record may carry besides id, kind, time and source, as the store declares them. */
const FIELDS: Record<string, TSchema> = { workflow: StoredRecordSchema.properties.workflow, ...RecordFieldsSchema.properties };

/** A stored record as the API returns it: fields without a value are left out. */
const LogRecordSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: KindSchema,
    time: Type.Union([Type.Number(), Type.Null()], { description: 'ms since epoch (null if the stored value is not a number)' }),
    at: Type.Optional(Type.String({ description: 'time as ISO-8601 (left out if the stored time is no date)' })),
    source: Type.String({ description: 'Producing run id (or course:<hash> for POST /logs bodies)' }),
    ...Object.fromEntries(Object.entries(FIELDS).map(([k, s]) => [k, apiField(s)])),
    invalid: Type.Optional(Type.Array(Type.String(), { description: 'Stored fields left out because their value does not fit their type' })),
  },
  { additionalProperties: true },
);

const fieldsOfType = (type: string) => new Set(Object.entries(LogRecordSchema.properties).filter(([k, s]) => k in FIELDS && s.type === type).map(([k]) => k));
const NUMERIC_FIELDS = fieldsOfType('number');
const INTEGER_FIELDS = fieldsOfType('integer');
const TEXT_FIELDS = fieldsOfType('string');

/** ISO-8601 of a stored time, or undefined when it is no date (a bad row must not fail a read). */
function isoTime(time: unknown): string | undefined {
  if (typeof time !== 'number' || !Number.isFinite(time)) return undefined;
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * A stored record as the API returns it. Never throws, whatever a row holds
 * (a row written by an older version, by hand or by another client): a field
 * that does not fit its type is left out and named in `invalid`, so one odd
 * row cannot make a whole page or export fail.
 */
export function toApiRecord(r: StoredRecord): Record<string, unknown> {
  const invalid: string[] = [];
  const time = typeof r.time === 'number' && Number.isFinite(r.time) ? r.time : null;
  const at = isoTime(r.time);
  if (at === undefined) invalid.push('time');
  const out: Record<string, unknown> = {
    id: typeof r.id === 'number' ? r.id : Number(r.id) || 0,
    kind: String(r.kind),
    time,
    ...(at !== undefined ? { at } : {}),
    source: String(r.source),
  };
  for (const [k, v] of Object.entries(r)) {
    if (v === null || v === undefined || k in out || k === 'time') continue;
    if (NUMERIC_FIELDS.has(k)) {
      if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
      else invalid.push(k);
    } else if (INTEGER_FIELDS.has(k)) {
      if (Number.isSafeInteger(v)) out[k] = v;
      else invalid.push(k);
    } else if (TEXT_FIELDS.has(k)) {
      out[k] = typeof v === 'string' ? v : String(v);
    } else if (typeof v !== 'bigint' && typeof v !== 'function') {
      out[k] = v;
    }
  }
  if (invalid.length > 0) out.invalid = invalid;
  return out;
}

const CSV_COLUMNS: Array<[string, (r: StoredRecord) => unknown]> = [
  ['id', (r) => r.id],
  ['time', (r) => r.time],
  ['at', (r) => isoTime(r.time)],
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

/**
 * One CSV cell. A text starting with = + - @ (or tab / CR) is a formula to
 * spreadsheets (CSV injection): it gets a leading apostrophe, as OWASP
 * advises, and is then quoted. Numbers are written as numbers (a negative
 * number is not text and stays usable).
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = typeof v === 'string' ? v : String(v);
  const formula = /^[=+\-@\t\r]/.test(s);
  if (formula) s = `'${s}`;
  return formula || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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

const IngestReply = Type.Object({
  stored: Type.Boolean({ description: 'False when the identical body was stored before' }),
  count: Type.Integer({ description: 'Records written' }),
  source: Type.String({ description: 'course:<content hash>, the idempotency key' }),
  format: Type.String({ description: 'The detected format: system-log, ram-killed or process' }),
});

/** The filter of a query; a BadRequestError (400, answered by the host's error handler) for a time that is none. */
function toFilter(q: Partial<LogsQuery & ExportQuery>): LogFilter {
  const filter: LogFilter = { kind: q.kind, class: q.class, minCpu: q.minCpu, host: q.host };
  for (const key of ['from', 'to'] as const) {
    const v = q[key];
    if (v === undefined) continue;
    const ms = parseTimeParam(v);
    if (ms === undefined) throw new BadRequestError(`/querystring/${key}`, 'must be an ISO-8601 date-time or ms since epoch');
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

/** The logger routes' Fastify plugin name (in registration errors and `hasPlugin`). */
export const LOGS_ROUTES_PLUGIN = 'tideflow-logger-routes';

/**
 * The logger's HTTP routes, over the injected store:
 * - GET /api/logs: filtered, newest first, paginated (cursor or offset).
 * - GET /api/logs/export?format=json|csv: every matching record, streamed.
 * - POST /logs: the course project's log body; 400 with every field path at
 *   fault and nothing stored, else stored once per identical body.
 *
 * They need the host's `requireAdmin` decorator (the admin token check of
 * POST /logs) and declare it: registering them where it is missing fails,
 * with or without open ingest, so the token check can never be lost silently.
 * Refused input throws core's BadRequestError; the host's error handler
 * (core/api/error-handler.ts) answers it with the shared `Error` body
 * (core/api/schemas.ts), which the host adds with app.addSchema.
 */
export function logsRoutes(store: RecordStore, opts: { openIngest?: boolean } = {}): FastifyPluginAsync {
  const routes = fp(async (app: FastifyInstance) => {
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
            400: errorRef,
          },
        },
      },
      async (req) => {
        const filter = toFilter(req.query);
        try {
          const { limit = LOGS_DEFAULT_LIMIT, cursor, offset } = req.query;
          const page = await store.queryLogs({ ...filter, limit, cursor, offset });
          return { items: page.items.map(toApiRecord), nextCursor: page.nextCursor, limit };
        } catch (err) {
          if (err instanceof InvalidCursorError) throw new BadRequestError('/querystring/cursor', 'is not a cursor from a previous page');
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
            400: errorRef,
          },
        },
      },
      async (req, reply) => {
        const filter = toFilter(req.query);
        const format = req.query.format ?? 'json';
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        void reply
          .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
          .header('content-disposition', `attachment; filename="tideflow-logs-${stamp}.${format}"`);
        return reply.send(Readable.from(exportChunks(store.exportLogs(filter), format)));
      },
    );

    // The course daemon's POST: the admin token is required like on every
    // mutating route, unless the operator opened ingest for an unmodified
    // course daemon (loopback only).
    const requireAdmin = opts.openIngest ? undefined : app.requireAdmin;
    const postSchema = (path: string) => ({
      operationId: path === '/logs' ? 'ingestLogs' : 'ingestLog',
      tags: ['logs'],
      summary:
        path === '/logs'
          ? "Store a log in one of the course daemons' formats (SystemLog, RAMmemory/KilledProcesses, process)"
          : 'Same as POST /logs, at the path the (c) process daemon posts to',
      description:
        'The format is detected by shape. Units: cpu_usage/CPUUsage percent of one core; memory_usage/MemoryUsage percent of total RAM; ' +
        '*_ram_kb, totalram/freeram/usedram, vsz, rss KiB. Times: ISO-8601 (UTC if no zone) or Unix epoch, 2000-01-01 .. now + 1 day. ' +
        'An identical body is stored once (200 on a resend).',
      body: CourseBodySchema,
      response: {
        200: IngestReply,
        201: IngestReply,
        400: errorRef,
      },
    });
    for (const path of ['/logs', '/log']) {
      app.post<{ Body: unknown }>(
        path,
        {
          ...(requireAdmin ? { onRequest: requireAdmin } : {}),
          schema: postSchema(path),
          // The schema documents the body; validation is ours so a 400 lists every field at fault, not just the first.
          validatorCompiler: () => () => true,
        },
        async (req, reply) => {
          const v = validateCourseBody(req.body);
          if (!v.ok) {
            const errors: FieldError[] = v.problems.map((p) => ({ path: `/body${p.path}`, message: p.message }));
            const first = errors[0]!;
            throw new BadRequestError(
              first.path,
              `${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}; checked as the closest accepted format, ${v.closestLabel}`,
              400,
              { errors, format: v.closest, acceptedFormats: ACCEPTED_FORMATS },
            );
          }
          const batch = courseBodyBatch(v.value);
          const out = await store.ingest(batch);
          return reply.status(out.stored ? 201 : 200).send({ ...out, source: batch.source, format: v.value.format });
        },
      );
    }
  }, { name: LOGS_ROUTES_PLUGIN, fastify: '5.x', decorators: { fastify: ['requireAdmin'] }, encapsulate: true });
  // Registered rather than returned: Fastify checks what a plugin declares
  // only when it is registered, and a host may call a plugin's routes
  // function directly on its own child context (the admin app does).
  return async (app) => {
    await app.register(routes);
  };
}
