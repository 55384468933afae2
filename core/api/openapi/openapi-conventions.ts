import type { onRequestHookHandler, RouteOptions } from 'fastify';
import { bearerSecurity, errorRef, OPTIONAL_BODY } from '../schemas.js';

type RouteSchema = {
  hide?: boolean;
  security?: Array<Record<string, string[]>>;
  response?: Record<string | number, unknown>;
  [key: string]: unknown;
};

/**
 * An onRoute hook that makes each route's documented security match what the
 * route enforces, so the OpenAPI document cannot drift from the code: a route
 * guarded by `requireAdmin` is documented with the bearer scheme and a 401
 * response, every other route with `security: []` (public). A route whose
 * declared `security` contradicts its hooks fails to register.
 */
export function documentRouteSecurity(requireAdmin: onRequestHookHandler) {
  return (route: RouteOptions): void => {
    const schema = (route.schema ?? {}) as RouteSchema;
    if (schema.hide) return;
    const guarded = [route.onRequest].flat().includes(requireAdmin);
    if (schema.security !== undefined && schema.security.length > 0 !== guarded) {
      throw new Error(
        `${route.method} ${route.url}: its schema declares ${schema.security.length > 0 ? 'bearer security' : 'no security'} ` +
          `but the route ${guarded ? 'requires' : 'does not require'} the admin token`,
      );
    }
    schema.security = guarded ? bearerSecurity : [];
    if (guarded) schema.response = { 401: errorRef, ...schema.response };
    route.schema = schema;
  };
}

type OpenApiOperation = { requestBody?: { required?: boolean }; [key: string]: unknown };
type OpenApiDocument = { paths?: Record<string, Record<string, OpenApiOperation>> };

/**
 * Final touches @fastify/swagger cannot express (its `transformObject`):
 * a route marked with `optionalBody` gets `requestBody.required: false`.
 */
export function finishOpenApiDocument<T>(doc: T): T {
  for (const operations of Object.values((doc as OpenApiDocument).paths ?? {})) {
    for (const op of Object.values(operations)) {
      if (typeof op !== 'object' || op === null || !(OPTIONAL_BODY in op)) continue;
      if (op.requestBody) op.requestBody.required = false;
      delete op[OPTIONAL_BODY];
    }
  }
  return doc;
}
