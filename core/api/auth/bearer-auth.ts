import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Compares a presented token with the expected one in constant time: both are
 * hashed to equal-length SHA-256 digests first, so neither the content nor
 * the length of the expected token leaks through timing.
 */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = digest(presented);
  const b = digest(expected);
  // Evaluate both parts always (no short-circuit on the length check).
  const same = timingSafeEqual(a, b);
  return same && expected.length > 0;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export type AdminAuthHook = onRequestHookHandler;

/**
 * An `onRequest` hook for mutating routes. It runs before the body is parsed
 * or validated, so a request without the right token gets 401 and nothing
 * else happens.
 */
export function createBearerAuth(expectedToken: string): AdminAuthHook {
  if (!expectedToken) throw new Error('createBearerAuth: the admin token must not be empty');
  return function requireAdmin(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const presented = bearerToken(req.headers.authorization);
    if (presented !== undefined && tokenMatches(presented, expectedToken)) {
      done();
      return;
    }
    void reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="tideflow"')
      .send({
        statusCode: 401,
        error: 'Unauthorized',
        message: presented === undefined ? 'missing Authorization: Bearer <token>' : 'invalid admin token',
      });
  } as AdminAuthHook;
}
