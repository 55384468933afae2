import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { EngineControl } from '../../control/engine-control.js';
import type { HealthCheck } from '../../health/health-check.js';
import { StringEnum } from '../schemas.js';

export interface HealthRoutesOptions {
  control: EngineControl;
}

const CheckSchema = Type.Object(
  {
    status: StringEnum(['up', 'down'] as const),
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

const HealthSchema = Type.Object({
  status: StringEnum(['up', 'down'] as const),
  checks: Type.Record(Type.String(), CheckSchema),
});

/** GET /api/health: every check of the engine; 503 when any is down. */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { control }) => {
  app.get(
    '/api/health',
    {
      schema: {
        operationId: 'getHealth',
        tags: ['health'],
        summary: "Health of Redis, the scheduler watchdog, and what the plugins' services contribute (the built-ins: docker, store)",
        description: '200 when every check is up, 503 when any is down (each check says why).',
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (_req, reply) => {
      let checks: Record<string, HealthCheck>;
      try {
        checks = await control.health();
      } catch (err) {
        checks = { engine: { status: 'down', reason: `health check failed: ${(err as Error).message}` } };
      }
      const down = Object.values(checks).some((c) => c.status !== 'up');
      return reply.status(down ? 503 : 200).send({ status: down ? 'down' : 'up', checks });
    },
  );
};
