import type { FastifyInstance } from 'fastify';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/**
 * The value of one series on a live /metrics page, parsed as Prometheus
 * text (0 when the family has no series with exactly these labels yet).
 */
export async function metricValue(app: FastifyInstance, name: string, labels: Record<string, string>): Promise<number> {
  const res = await app.inject({ url: '/metrics' });
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${res.body}`);
  const family = parsePrometheusTextFormat(res.body).find((f) => f.name === name);
  if (!family) throw new Error(`/metrics has no ${name}`);
  const series = family.metrics.find((s) => Object.keys(s.labels ?? {}).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return series?.value === undefined ? 0 : Number(series.value);
}
