import Fastify from 'fastify';
import type { onRequestHookHandler } from 'fastify';
import { describe, expect, it } from 'vitest';
import { documentRouteSecurity, finishOpenApiDocument } from '../../core/api/openapi/openapi-conventions.js';
import { bearerSecurity, ErrorSchema, OPTIONAL_BODY } from '../../core/api/schemas.js';

const requireAdmin: onRequestHookHandler = (_req, _reply, done) => done();
const otherHook: onRequestHookHandler = (_req, _reply, done) => done();

function app() {
  const a = Fastify();
  a.addSchema(ErrorSchema);
  a.addHook('onRoute', documentRouteSecurity(requireAdmin));
  return a;
}

describe('documentRouteSecurity', () => {
  it('documents a guarded route with the bearer scheme and a 401, any other with security: []', async () => {
    const a = app();
    const seen: Record<string, any> = {};
    a.addHook('onRoute', (r) => void (seen[`${r.method} ${r.url}`] = r.schema));
    a.post('/guarded', { onRequest: [otherHook, requireAdmin], schema: { response: { 200: { type: 'object' } } } }, async () => ({}));
    a.get('/public', { onRequest: otherHook }, async () => ({}));
    a.get('/hidden', { schema: { hide: true } }, async () => ({}));
    await a.ready();
    expect(seen['POST /guarded'].security).toEqual(bearerSecurity);
    expect(Object.keys(seen['POST /guarded'].response).sort()).toEqual(['200', '401']);
    expect(seen['GET /public'].security).toEqual([]);
    expect(seen['GET /hidden'].security).toBeUndefined();
    await a.close();
  });

  it('refuses a route whose declared security contradicts its hooks', () => {
    expect(() => app().post('/open', { schema: { security: bearerSecurity } }, async () => ({}))).toThrow(/declares bearer security but the route does not require the admin token/);
    expect(() => app().post('/shut', { onRequest: requireAdmin, schema: { security: [] } }, async () => ({}))).toThrow(/declares no security but the route requires/);
  });
});

describe('finishOpenApiDocument', () => {
  it('makes a marked request body optional and drops the marker', () => {
    const doc = {
      paths: {
        '/a': { post: { [OPTIONAL_BODY]: true, requestBody: { required: true } } },
        '/b': { post: { requestBody: { required: true } } },
      },
    };
    expect(finishOpenApiDocument(doc)).toEqual({ paths: { '/a': { post: { requestBody: { required: false } } }, '/b': { post: { requestBody: { required: true } } } } });
  });
});
