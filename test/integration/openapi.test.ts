import type { LocalStack } from '../../local/stack.js';
import { routes } from '../../shared/http/routes.js';
import { startTestStack } from '../support/local-stack.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack.close());

describe('the OpenAPI document', () => {
  it('is served by the local stack as OpenAPI 3.1 and lists exactly the routes the API has', async () => {
    const response = await fetch(`${stack.url}/v1/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security: unknown[] }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of routes) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation?.security).toEqual(route.auth === 'jwt' ? [{ bearer: [] }] : []);
    }
  });

  it('describes request and response bodies with the schemas the handlers use', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: walking a JSON document in a test
    const doc = (await (await fetch(`${stack.url}/v1/openapi.json`)).json()) as Record<string, any>;
    const connect = doc.paths['/v1/integrations/stripe/connect'].post;
    expect(connect.requestBody.content['application/json'].schema.properties.mode.enum).toEqual([
      'test',
      'live',
    ]);
    expect(connect.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    const status =
      doc.paths['/v1/integrations/stripe/status'].get.responses['200'].content['application/json'].schema;
    expect(status.properties.status.enum).toContain('not_connected');
    expect(
      doc.paths['/v1/integrations/stripe/callback'].get.parameters
        .map((p: { name: string }) => p.name)
        .sort(),
    ).toEqual(['code', 'error', 'error_description', 'state']);
  });
});
