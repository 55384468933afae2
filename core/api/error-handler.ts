import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../control/engine-control.js';
import type { FieldError } from './schemas.js';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** The failing input for validation errors: /params/wf, /querystring/limit, /body/input... */
  path?: string;
  /** Every failing input, when a route checks them all (the first is `path`). */
  errors?: FieldError[];
  /** Fastify's error code for other client errors (FST_ERR_CTP_INVALID_JSON_BODY...). */
  code?: string;
}

/** What a BadRequestError adds to its body besides status, message and path: every failing input, and route-specific hints. */
export type BadRequestDetails = { errors?: FieldError[] } & Record<string, unknown>;

interface AjvLikeError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** A 400 raised by a handler for input the schema cannot express; carries the failing path. */
export class BadRequestError extends Error {
  constructor(
    readonly path: string,
    message: string,
    /** 400, or 413 for input that is too large. */
    readonly statusCode: 400 | 413 = 400,
    /** Added to the body (it cannot replace statusCode, error, message or path). */
    readonly details?: BadRequestDetails,
  ) {
    super(`${path} ${message}`);
    this.name = 'BadRequestError';
  }
}

/** A refused request is worth one line in the log (who sent what is in the request log line). */
function logRefused(req: FastifyRequest, status: number, message: string): void {
  req.log.warn({ statusCode: status, method: req.method, route: req.routeOptions?.url }, `request refused: ${message.slice(0, 300)}`);
}

function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundError || (err instanceof Error && err.name === 'NotFoundError');
}

/** `/querystring/limit` from Fastify's validation context and ajv's first error. */
export function validationPath(context: string | undefined, first: AjvLikeError | undefined): string {
  let p = first?.instancePath ?? '';
  const params = first?.params ?? {};
  const extra = params.missingProperty ?? params.additionalProperty ?? params.propertyName;
  if (typeof extra === 'string') p += `/${extra}`;
  return `/${context ?? 'request'}${p}`;
}

/**
 * Maps errors to JSON: schema failures -> 400 with the failing path, unknown
 * workflow/job -> 404, other client errors keep their 4xx status (bad JSON,
 * unsupported media type, body too large), anything else -> 500 without
 * internals. Bad input is never a 500.
 */
export function adminErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err.validation) {
    const first = err.validation[0] as AjvLikeError | undefined;
    const path = validationPath(err.validationContext, first);
    const body: ErrorBody = {
      statusCode: 400,
      error: 'Bad Request',
      message: `${path} ${first?.message ?? 'is invalid'}`,
      path,
    };
    logRefused(req, 400, body.message);
    void reply.status(400).send(body);
    return;
  }
  if (err instanceof BadRequestError) {
    logRefused(req, err.statusCode, err.message);
    const error = STATUS_CODES[err.statusCode] ?? 'Bad Request';
    const body: ErrorBody & Record<string, unknown> = { statusCode: err.statusCode, error, message: err.message, path: err.path };
    for (const [k, v] of Object.entries(err.details ?? {})) if (!(k in body)) body[k] = v;
    void reply.status(err.statusCode).send(body);
    return;
  }
  if (isNotFound(err)) {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: err.message } satisfies ErrorBody);
    return;
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500) {
    const body: ErrorBody = { statusCode: status, error: STATUS_CODES[status] ?? 'Client Error', message: err.message };
    if (err.code) body.code = err.code;
    if (status !== 401 && status !== 404) logRefused(req, status, err.message);
    void reply.status(status).send(body);
    return;
  }
  const code = status >= 500 && status < 600 ? status : 500;
  req.log.error({ err }, 'request failed');
  void reply
    .status(code)
    .send({ statusCode: code, error: 'Internal Server Error', message: 'internal error, see the engine log' } satisfies ErrorBody);
}
