import fc from 'fast-check';
import { generateKeyPair, SignJWT } from 'jose';
import { DEV_AUDIENCE, DEV_ISSUER } from '../../local/dev-auth.js';
import type { LocalStack } from '../../local/stack.js';
import { type RouteDef, routes } from '../../shared/http/routes.js';
import { onlyConnection } from '../support/connections.js';
import { BAKERY_ACCOUNT, connectOrg, startTestStack } from '../support/local-stack.js';
import { findSecrets } from '../support/log-capture.js';

jest.setTimeout(600_000);

const RUNS = Number(process.env.HOSTILE_RUNS ?? 500);
const VICTIM = 'org_victim';
const ATTACKER = 'org_attacker';

let stack: LocalStack;
let tokens: Record<string, string>;
let victimBefore: string;

/** Everything about the victim org that no request from anyone else may change. */
async function victimState(): Promise<string> {
  const connection = await onlyConnection(stack.store, VICTIM);
  const links = await stack.store.accountLinks(BAKERY_ACCOUNT);
  const secrets = (await stack.vault.names()).filter((n) => n.includes(`/${VICTIM}/`));
  const records = await stack.records.versions(
    { orgId: VICTIM, mode: 'test', accountId: BAKERY_ACCOUNT },
    'charges',
  );
  return JSON.stringify({
    connection,
    links: links.filter((l) => l.orgId === VICTIM),
    secrets,
    records: records.size,
  });
}

beforeAll(async () => {
  stack = await startTestStack();
  stack.queues.sync.pause();
  await connectOrg(stack, VICTIM, { account: BAKERY_ACCOUNT });
  const { privateKey: otherKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, opts: { iss?: string; aud?: string; exp?: number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'whatever' })
      .setIssuer(opts.iss ?? DEV_ISSUER)
      .setAudience(opts.aud ?? DEV_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? now + 3600)
      .sign(otherKey);
  const unsigned = (claims: object) =>
    `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: DEV_ISSUER, aud: DEV_AUDIENCE, exp: now + 3600, ...claims }),
    ).toString('base64url')}.`;
  tokens = {
    attackerAdmin: await stack.issuer.issue({ org: ATTACKER, roles: ['admin'] }),
    attackerMember: await stack.issuer.issue({ org: ATTACKER, roles: ['member'] }),
    victimMember: await stack.issuer.issue({ org: VICTIM, roles: ['member'] }),
    expired: await stack.issuer.issue({ org: VICTIM, roles: ['admin'], expiresIn: '-5m' }),
    wrongAudience: await stack.issuer.issue({ org: VICTIM, roles: ['admin'], audience: 'another-app' }),
    wrongKey: await sign({ org_id: VICTIM, roles: ['admin'] }),
    wrongIssuer: await sign({ org_id: VICTIM, roles: ['admin'] }, { iss: 'https://evil.example/' }),
    algNone: unsigned({ org_id: VICTIM, roles: ['admin'] }),
    noOrg: await stack.issuer.issue({ roles: ['admin'] }),
    garbage: 'not-a-jwt',
  };
  victimBefore = await victimState();
});
afterAll(() => stack?.close());

const text = fc.string({ unit: 'binary', maxLength: 64 });
const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'org_id', 'orgId');
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.oneof(protoKey, text), fc.jsonValue({ maxDepth: 2 })).map((o) => JSON.stringify(o)),
  fc.constantFrom(
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '{"mode":"live","returnTo":"//evil.example"}',
  ),
  fc.integer({ min: 1, max: 5000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.integer({ min: 1, max: 2000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
);
const body = fc.oneof(
  jsonBody,
  text,
  fc.constantFrom('', '{', '{"mode":', 'null', '[]', '"x"', '\u0000\u0001'),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
  fc.integer({ min: 1, max: 3 }).map((mb) => 'x'.repeat(mb * 400_000)),
);
const headerName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
  .filter((h) => !['host', 'content-length', 'transfer-encoding', 'connection'].includes(h));
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);
const request = (route: RouteDef) =>
  fc.record({
    method: fc.oneof(
      { weight: 4, arbitrary: fc.constant(route.method) },
      fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'),
    ),
    pathSuffix: fc.oneof(
      { weight: 5, arbitrary: fc.constant('') },
      fc.constantFrom('/', '/x', '/../status', '%2e%2e', '?'),
    ),
    query: fc.dictionary(
      fc.oneof(protoKey, fc.constantFrom('state', 'code', 'error', 'org_id'), text),
      text,
      { maxKeys: 5 },
    ),
    headers: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
    contentType: fc.constantFrom(
      undefined,
      'application/json',
      'text/plain',
      'application/octet-stream',
      'multipart/form-data; boundary=x',
    ),
    auth: fc.constantFrom(
      undefined,
      'attackerAdmin',
      'attackerMember',
      'victimMember',
      'expired',
      'wrongAudience',
      'wrongKey',
      'wrongIssuer',
      'algNone',
      'noOrg',
      'garbage',
    ),
    body: fc.option(body, { nil: undefined }),
  });

type HostileRequest = typeof request extends (route: RouteDef) => fc.Arbitrary<infer T> ? T : never;

async function send(route: RouteDef, r: HostileRequest) {
  const url = new URL(`${stack.url}${route.path}${r.pathSuffix}`);
  for (const [k, v] of Object.entries(r.query)) url.searchParams.append(k, v);
  const headers: Record<string, string> = { ...r.headers };
  if (r.contentType) headers['content-type'] = r.contentType;
  if (r.auth) headers.authorization = `Bearer ${tokens[r.auth] as string}`;
  const hasBody = r.body !== undefined && !['GET', 'HEAD'].includes(r.method);
  const response = await fetch(url, {
    method: r.method,
    headers,
    redirect: 'manual',
    ...(hasBody ? { body: r.body } : {}),
  });
  return { status: response.status, location: response.headers.get('location'), text: await response.text() };
}

describe.each(routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
  '%s under hostile input',
  (_key, route) => {
    it(`never answers 5xx, always in the error shape, never changes another org (${RUNS} runs)`, async () => {
      const queued = stack.queues.webhooks.sent;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request(route), async (r) => {
          const res = await send(route, r);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status).toBeLessThan(500);
          expect(findSecrets(res.text + (res.location ?? ''))).toEqual([]);
          const exact = r.pathSuffix === '' || r.pathSuffix === '?';
          if (route.function === 'oauth-callback' && exact && r.method === 'GET') {
            // A browser never gets JSON here: always back to the frontend, never elsewhere.
            expect(res.status).toBe(302);
            expect(new URL(res.location as string).origin).toBe(new URL(stack.url).origin);
          } else if (res.status >= 400) {
            const parsed = JSON.parse(res.text) as {
              error?: { code: string; message: string };
              message?: string;
            };
            // The service's shape, or API Gateway's own ({"message": …}) for what never reaches a function.
            expect(typeof parsed.error?.code === 'string' || typeof parsed.message === 'string').toBe(true);
          }
        }),
        { numRuns: RUNS, seed: 20261126 },
      );
      // Every request was sent and answered; the mix shows the generator reaches past the authorizer.
      expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(RUNS);
      console.info(`${route.method} ${route.path}`, JSON.stringify(Object.fromEntries(statuses)));
      expect(await victimState()).toBe(victimBefore);
      if (route.function === 'webhook-intake') expect(stack.queues.webhooks.sent).toBe(queued);
    });
  },
);
