import { errorMessage } from '../util/error-message.js';
import { withDeadline } from '../util/with-deadline.js';

/** Each health check answers within this, so GET /api/health answers within a second even when Redis or Docker hangs. */
export const HEALTH_CHECK_DEADLINE_MS = 800;

/** One check of GET /api/health: the engine's own (redis, scheduler) or one a plugin or its service contributes. */
export interface HealthCheck {
  status: 'up' | 'down';
  reason?: string;
}

/** A check bounded by HEALTH_CHECK_DEADLINE_MS; a failure or a timeout becomes `down(reason)`. */
export function boundedHealthCheck(what: string, check: () => Promise<HealthCheck>, down: (reason: string) => HealthCheck): () => Promise<HealthCheck> {
  return () => withDeadline(check(), HEALTH_CHECK_DEADLINE_MS, what).catch((err: unknown) => down(errorMessage(err)));
}

/** Checks contributed by plugins and services, each bounded in time; one that throws is down with its error as the reason. */
export function boundedHealthChecks(checks: Record<string, () => Promise<HealthCheck>>): Record<string, () => Promise<HealthCheck>> {
  return Object.fromEntries(
    Object.entries(checks).map(([name, check]) => [name, boundedHealthCheck(`the ${name} check`, check, (reason) => ({ status: 'down', reason }))]),
  );
}
