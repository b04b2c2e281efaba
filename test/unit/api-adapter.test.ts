import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { apiAdapter } from '../../local/api-adapter.js';
import { DEV_AUDIENCE, type DevIssuer, devIssuer } from '../../local/dev-auth.js';
import type { HttpEvent } from '../../shared/http/handler.js';
import type { RouteDef } from '../../shared/http/routes.js';

const ORIGIN = 'http://localhost:3000';
const testRoutes = [
  { method: 'GET', path: '/v1/open', function: 'health', auth: 'public' },
  { method: 'POST', path: '/v1/secure', function: 'secure', auth: 'jwt' },
  { method: 'GET', path: '/v1/items/{id}', function: 'health', auth: 'public' },
] as unknown as RouteDef[];

let server: Server;
let base: string;
let issuer: DevIssuer;
const events: HttpEvent[] = [];

beforeAll(async () => {
  issuer = await devIssuer(join(mkdtempSync(join(tmpdir(), 'jwt-')), 'key.json'), {
    org: 'org_id',
    roles: 'roles',
  });
  const record = async (event: HttpEvent): Promise<APIGatewayProxyStructuredResultV2> => {
    events.push(event);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  };
  const handle = apiAdapter({
    routes: testRoutes,
    handlers: { health: record, secure: record },
    verifyJwt: (token) => issuer.verify(token),
    corsOrigins: [ORIGIN],
    maxBodyBytes: 1024,
  });
  server = createServer((req, res) => {
    void handle(req, res).then((handled) => {
      if (!handled) {
        res.statusCode = 599;
        res.end();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());
beforeEach(() => {
  events.length = 0;
});

describe('the local API Gateway adapter', () => {
  it('builds a payload 2.0 event: route key, raw path and query, lower-case headers, path parameters', async () => {
    const response = await fetch(`${base}/v1/items/it_42?a=1&a=2&b=x%20y`, {
      headers: { 'X-Custom': 'v', Cookie: 'c1=1; c2=2' },
    });
    expect(response.status).toBe(200);
    const [event] = events;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /v1/items/{id}',
      rawPath: '/v1/items/it_42',
      rawQueryString: 'a=1&a=2&b=x%20y',
      queryStringParameters: { a: '1,2', b: 'x y' },
      pathParameters: { id: 'it_42' },
      cookies: ['c1=1', 'c2=2'],
      isBase64Encoded: false,
      requestContext: { http: { method: 'GET', path: '/v1/items/it_42' }, stage: '$default' },
    });
    expect(event?.headers['x-custom']).toBe('v');
  });

  it('percent-decodes path parameters as an HTTP API does, and refuses ones that do not decode', async () => {
    expect((await fetch(`${base}/v1/items/%74est_acct%5F1`)).status).toBe(200);
    expect(events[0]?.pathParameters).toEqual({ id: 'test_acct_1' });
    expect((await fetch(`${base}/v1/items/a%2Fb`)).status).toBe(200);
    expect(events[1]?.pathParameters).toEqual({ id: 'a/b' });
    const malformed = await fetch(`${base}/v1/items/bad%E0%A4%A`);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ message: 'Bad Request' });
    expect(events).toHaveLength(2);
  });

  it('base64-encodes binary bodies and passes text bodies as they are', async () => {
    const token = await issuer.issue({ org: 'org_1', roles: ['admin'] });
    const auth = { authorization: `Bearer ${token}` };
    await fetch(`${base}/v1/secure`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    await fetch(`${base}/v1/secure`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2]),
    });
    expect(events[0]).toMatchObject({ body: '{"a":1}', isBase64Encoded: false });
    expect(events[1]).toMatchObject({ body: 'AAEC', isBase64Encoded: true });
  });

  it('passes verified claims as API Gateway does, arrays flattened', async () => {
    const token = await issuer.issue({ org: 'org_1', roles: ['admin', 'member'], sub: 'user_9' });
    await fetch(`${base}/v1/secure`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(events[0]?.requestContext.authorizer?.jwt?.claims).toMatchObject({
      org_id: 'org_1',
      roles: '[admin member]',
      sub: 'user_9',
      aud: DEV_AUDIENCE,
    });
  });

  it.each([
    ['no token', async () => ''],
    ['a malformed token', async () => 'Bearer not.a.jwt'],
    ['an expired token', async () => `Bearer ${await issuer.issue({ org: 'o', expiresIn: '-1m' })}`],
    ['another audience', async () => `Bearer ${await issuer.issue({ org: 'o', audience: 'someone-else' })}`],
    [
      'an unsigned token (alg none)',
      async () =>
        `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"org_id":"o"}').toString('base64url')}.`,
    ],
  ])('answers 401 without calling the function for %s', async (_name, header) => {
    const value = await header();
    const response = await fetch(`${base}/v1/secure`, {
      method: 'POST',
      headers: value ? { authorization: value } : {},
    });
    expect(response.status).toBe(401);
    expect(events).toHaveLength(0);
  });

  it('answers CORS preflight for allowed origins only, and tags responses', async () => {
    const allowed = await fetch(`${base}/v1/secure`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const denied = await fetch(`${base}/v1/secure`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await fetch(`${base}/v1/open`, { headers: { origin: ORIGIN } });
    expect(simple.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(events).toHaveLength(1);
  });

  it('refuses bodies over the payload limit, wrong methods, and leaves unknown paths to the caller', async () => {
    const big = await fetch(`${base}/v1/open`, { method: 'GET' });
    expect(big.status).toBe(200);
    const token = await issuer.issue({ org: 'o' });
    const tooLarge = await fetch(`${base}/v1/secure`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: 'x'.repeat(2048),
    });
    expect(tooLarge.status).toBe(413);
    expect((await fetch(`${base}/v1/open`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(599);
  });
});
