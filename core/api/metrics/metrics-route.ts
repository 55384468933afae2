import type { FastifyPluginAsync } from 'fastify';
import type { EngineMetrics } from './engine-metrics.js';

export interface MetricsRouteOptions {
  metrics: EngineMetrics;
}

/** GET /metrics in the Prometheus text format. */
export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['metrics'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } },
      },
    },
    async (_req, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
};
