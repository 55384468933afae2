import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { EngineControl } from '../../control/engine-control.js';
import { checkRunInput, RunInputError } from '../../control/run-input-limits.js';
import { MAX_WEBHOOK_BODY_BYTES, type WebhookSettings } from '../../workflow/workflow-schema.js';
import { BadRequestError } from '../error-handler.js';
import { errorRef, NameParam } from '../schemas.js';

export interface WebhookRoutesOptions {
  control: EngineControl;
  /** Where each job's `webhook.secretEnv` is read: the engine's environment. */
  env: NodeJS.ProcessEnv;
}

const HookParams = Type.Object({ workflow: NameParam, job: NameParam }, { additionalProperties: false });
type HookParams = Static<typeof HookParams>;

/** A client error with its status (401, 409, 413), answered by the core error handler with the standard body. */
class WebhookRefusal extends Error {
  constructor(
    readonly statusCode: 401 | 409 | 413,
    message: string,
  ) {
    super(message);
  }
}

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

/** Compares secrets in constant time whatever their lengths (both sides hashed first). */
const sameSecret = (given: string | Buffer, expected: string | Buffer) => timingSafeEqual(digest(given), digest(expected));

/** Checks the call's credentials for this job; throws a 401 saying what is wrong (never why a guess was close). */
function authenticate(req: FastifyRequest, raw: Buffer, hook: WebhookSettings, secret: string): void {
  if (hook.auth === 'bearer') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new WebhookRefusal(401, 'missing Authorization: Bearer <secret>');
    if (!sameSecret(m[1]!, secret)) throw new WebhookRefusal(401, 'wrong secret');
    return;
  }
  const header = req.headers['x-hub-signature-256'];
  const m = typeof header === 'string' ? /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim()) : null;
  if (!m) throw new WebhookRefusal(401, 'missing X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>');
  const expected = createHmac('sha256', secret).update(raw).digest();
  if (!timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) throw new WebhookRefusal(401, 'signature does not match the body');
}

/**
 * POST /hooks/:workflow/:job: a job with a `webhook` in its workflow file is
 * triggered by a call carrying its secret (an HMAC-SHA256 signature of the
 * body as GitHub sends, or a bearer secret), its JSON body becoming the
 * run's input. No admin token: the job's own secret is the credential.
 * Bounded: body size per job (413), calls per minute per job (429).
 */
export const webhookRoutes: FastifyPluginAsync<WebhookRoutesOptions> = async (app, { control, env }) => {
  // The signature is over the exact bytes: this context keeps the body raw and parses it after the check.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BODY_BYTES }, (_req, body, done) => done(null, body));

  const settings = async (req: FastifyRequest) => {
    const { workflow, job } = req.params as HookParams;
    return control.webhookOf(workflow, job);
  };
  await app.register(rateLimit, { global: false });

  app.post<{ Params: HookParams; Body: Buffer | undefined }>(
    '/hooks/:workflow/:job',
    {
      bodyLimit: MAX_WEBHOOK_BODY_BYTES,
      config: {
        rateLimit: {
          timeWindow: 60_000,
          // Per job, whoever calls: the job's own budget (its `perMinute`).
          keyGenerator: (req: FastifyRequest) => {
            const { workflow, job } = req.params as HookParams;
            return `${workflow}/${job}`;
          },
          max: async (req: FastifyRequest) => (await settings(req).catch(() => undefined))?.webhook.perMinute ?? 60,
        },
      },
      schema: {
        operationId: 'callWebhook',
        tags: ['jobs'],
        summary: "Trigger a job through its webhook: the JSON body becomes the run's input",
        description:
          'The job needs a `webhook` in its workflow file. Authenticate with the job\'s secret: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` ' +
          '(auth "hmac-sha256", the default, as GitHub signs) or `Authorization: Bearer <secret>` (auth "bearer"). Refused while the job is paused.',
        params: HookParams,
        body: Type.Unknown({ description: "Any JSON document: the run's input" }),
        response: {
          202: Type.Object({ runId: Type.String() }, { description: 'Run enqueued' }),
          400: errorRef,
          401: errorRef,
          404: errorRef,
          409: errorRef,
          413: errorRef,
          429: errorRef,
          503: errorRef,
        },
      },
    },
    async (req, reply) => {
      const { workflow, job } = req.params;
      const { webhook, paused } = await settings(req);
      const secret = env[webhook.secretEnv];
      if (!secret) {
        // The engine's configuration is wrong, not the call: 503 with the reason (the handler would hide a 5xx's message).
        const message = `the webhook of ${workflow}/${job} has no secret: ${webhook.secretEnv} is not set in the engine's environment`;
        req.log.warn(message);
        return reply.status(503).send({ statusCode: 503, error: 'Service Unavailable', message });
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (raw.length > webhook.maxBodyBytes) throw new WebhookRefusal(413, `body of ${raw.length} bytes: this webhook accepts at most ${webhook.maxBodyBytes}`);
      authenticate(req, raw, webhook, secret);
      if (paused) throw new WebhookRefusal(409, `${workflow}/${job} is paused: resume it to accept webhook calls`);
      let input: unknown;
      if (raw.length > 0) {
        try {
          input = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          throw new BadRequestError('/body', `is not JSON: ${(err as Error).message}`);
        }
      }
      try {
        checkRunInput(input);
      } catch (err) {
        if (err instanceof RunInputError) throw new BadRequestError(`/body${err.pointer}`, err.message, err.statusCode);
        throw err;
      }
      const { runId } = await control.triggerByWebhook(workflow, job, input);
      return reply.status(202).send({ runId });
    },
  );
};
