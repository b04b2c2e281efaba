import type { LocalStack } from '../../local/stack.js';
import { endConnection } from '../../shared/connect/end-connection.js';
import { type Connection, refOf } from '../../shared/domain/connection.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { onlyConnection, onlyRef } from '../support/connections.js';
import {
  api,
  assertSecretsConsistent,
  BAKERY_ACCOUNT,
  confirmInstall,
  connectOrg,
  DEMO_ACCOUNT,
  decide,
  followCallback,
  startConnect,
  startTestStack,
  type TestClock,
  tokenFor,
  tokenRequests,
} from '../support/local-stack.js';

jest.setTimeout(60_000);

let stack: LocalStack & { clock: TestClock };
let n = 0;
const newOrg = () => `org_flow_${++n}`;

beforeAll(async () => {
  stack = await startTestStack();
  // These tests are about connecting: the queued first syncs stay queued (test/integration/sync.test.ts runs them).
  stack.queues.sync.pause();
});
afterAll(() => stack.close());
afterEach(() => {
  stack.sandbox.faults.length = 0;
});

const status = async (orgId: string) =>
  (
    await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, orgId, 'member'),
    })
  ).json;

describe('connect → install → callback', () => {
  it('connects: tokens in the vault, connection and account link stored, first sync queued, browser back on the page', async () => {
    const org = newOrg();
    const before = stack.queues.sync.depth;
    const { landed, outcome } = await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    expect(outcome).toBe('connected');
    expect(landed.origin + landed.pathname).toBe(`${stack.url}/`);

    const view = await status(org);
    expect(view).toMatchObject({
      status: 'connected',
      account: { id: BAKERY_ACCOUNT, livemode: false },
      connectedAt: expect.any(String),
      sync: { state: 'queued', lastSuccessAt: null, lastError: null, counts: {}, progress: null },
    });
    const connection = await onlyConnection(stack.store, org);
    const tokens = await stack.vault.read(connection?.secretName as string);
    expect(tokens).toMatchObject({ accountId: BAKERY_ACCOUNT, livemode: false, scope: 'stripe_apps' });
    expect(await stack.vault.tags(connection?.secretName as string)).toMatchObject({
      org,
      account: BAKERY_ACCOUNT,
    });
    expect(await stack.store.accountLinks(BAKERY_ACCOUNT)).toContainEqual(
      expect.objectContaining({ orgId: org, connectionId: connection?.connectionId }),
    );
    expect(stack.queues.sync.depth).toBe(before + 1);
    await assertSecretsConsistent(stack, [org]);
  });

  it("names the account once the first sync has read it, as the account's Dashboard shows it", async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    expect((await status(org)).account).toEqual({ id: BAKERY_ACCOUNT, name: null, livemode: false });
    const connection = await onlyConnection(stack.store, org);
    const job = {
      ...refOf(connection as Connection),
      connectionId: connection?.connectionId as string,
      reason: 'initial' as const,
    };
    await runSync(stack.syncDeps, job, () => 900_000);
    expect((await status(org)).account).toEqual({
      id: BAKERY_ACCOUNT,
      name: 'Small Bakery',
      livemode: false,
    });
    // Read once per connection: a later run does not ask again.
    const since = Date.now();
    await runSync(stack.syncDeps, { ...job, reason: 'manual' }, () => 900_000);
    const asked = stack.sandbox.requests.filter(
      (r) => r.route === 'GET /v1/account' && r.at >= since && r.account === BAKERY_ACCOUNT,
    );
    expect(asked).toEqual([]);
  });

  it('returns the install URL of the requested mode with client id, redirect URI and a fresh state', async () => {
    const org = newOrg();
    const test = await startConnect(stack, org, { mode: 'test' });
    const live = await startConnect(stack, org, { mode: 'live' });
    // One External test link per mode, as the Dashboard gives them.
    expect(test.authorizeUrl.pathname).toMatch(/^\/oauth\/v2\/chnlink_[A-Za-z0-9]+\/authorize$/);
    expect(live.authorizeUrl.pathname).toMatch(/^\/oauth\/v2\/chnlink_[A-Za-z0-9]+\/authorize$/);
    expect(live.authorizeUrl.pathname).not.toBe(test.authorizeUrl.pathname);
    expect(test.authorizeUrl.searchParams.get('client_id')).toBe(stack.sandbox.sandbox.clientId);
    expect(test.authorizeUrl.searchParams.get('redirect_uri')).toBe(
      `${stack.url}/v1/integrations/stripe/callback`,
    );
    expect(Buffer.from(test.state, 'base64url')).toHaveLength(32);
    expect(test.state).not.toBe(live.state);
    expect(Date.parse(test.expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(Date.parse(test.expiresAt) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
  });

  it('connects in live mode with the live key', async () => {
    const org = newOrg();
    const { outcome } = await connectOrg(stack, org, { body: { mode: 'live' } });
    expect(outcome).toBe('connected');
    expect((await status(org)).account).toMatchObject({ id: DEMO_ACCOUNT, livemode: true });
  });

  it('cancel (Stripe sends no state with it): back with reason=access_denied, nothing stored', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'cancel');
    expect(callback.searchParams.has('state')).toBe(false);
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('stripe')).toBe('error');
    expect(landed.searchParams.get('reason')).toBe('access_denied');
    expect((await status(org)).status).toBe('not_connected');
    const again = await followCallback(callback);
    expect(again.searchParams.get('reason')).toBe('access_denied');
    expect((await status(org)).status).toBe('not_connected');
  });

  it.each([
    ['a forged state', (url: URL) => url.searchParams.set('state', 'forged-state-value')],
    ['no state', (url: URL) => url.searchParams.delete('state')],
  ])('refuses %s with reason=invalid_state and no token exchange', async (_name, tamper) => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install');
    tamper(callback);
    const exchanges = tokenRequests(stack).length;
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('reason')).toBe('invalid_state');
    expect(tokenRequests(stack).length).toBe(exchanges);
    expect((await status(org)).status).toBe('not_connected');
  });

  it('refuses an expired state (10 minutes) without exchanging the code', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install');
    stack.clock.advance(10 * 60_000 + 1000);
    const exchanges = tokenRequests(stack).length;
    try {
      const landed = await followCallback(callback);
      expect(landed.searchParams.get('reason')).toBe('invalid_state');
    } finally {
      stack.clock.advance(-(10 * 60_000 + 1000));
    }
    expect(tokenRequests(stack).length).toBe(exchanges);
    expect((await status(org)).status).toBe('not_connected');
  });

  it('refuses a reused state: the second callback changes nothing', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install');
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('stripe')).toBe('confirm');
    const secrets = (await stack.vault.names()).length;
    const replay = await followCallback(callback);
    expect(replay.searchParams.get('reason')).toBe('invalid_state');
    expect((await stack.vault.names()).length).toBe(secrets); // no second install
    expect((await confirmInstall(stack, landed, await tokenFor(stack, org))).status).toBe(200);
    expect((await status(org)).status).toBe('connected');
  });

  it("binds the install to its user: org A's link completed by anyone else connects nothing, and says why", async () => {
    const orgA = newOrg();
    const orgB = newOrg();
    const { authorizeUrl } = await startConnect(stack, orgA);
    // Org A's admin sends the link on; the owner of a Stripe account installs it in their own browser.
    const landed = await followCallback(await decide(stack, authorizeUrl, 'install', BAKERY_ACCOUNT));
    expect(landed.searchParams.get('stripe')).toBe('confirm');
    const others = [
      await stack.issuer.issue({ org: orgA, roles: ['admin'], sub: 'user_someone_else' }),
      await tokenFor(stack, orgB),
    ];
    for (const token of others) {
      const refused = await confirmInstall(stack, landed, token);
      expect(refused.status).toBe(403);
      expect(refused.json).toEqual({
        error: {
          code: 'install_not_yours',
          message: expect.stringContaining('started by another Defrr user'),
        },
      });
      expect(refused.text).not.toContain(orgA);
      expect(refused.text).not.toContain(BAKERY_ACCOUNT);
    }
    expect((await status(orgA)).status).toBe('not_connected');
    expect((await status(orgB)).status).toBe('not_connected');
    expect(
      (await stack.store.accountLinks(BAKERY_ACCOUNT)).filter((l) => [orgA, orgB].includes(l.orgId)),
    ).toEqual([]);
    // Only the admin who started it connects it, once.
    expect((await confirmInstall(stack, landed, await tokenFor(stack, orgA))).status).toBe(200);
    expect((await status(orgA)).status).toBe('connected');
    expect((await confirmInstall(stack, landed, await tokenFor(stack, orgA))).status).toBe(404);
  });

  it('an install nobody confirms expires: the sweep deletes its tokens, and confirming then is 404', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const landed = await followCallback(await decide(stack, authorizeUrl, 'install'));
    const pending = (await stack.vault.names()).filter((name) => name.includes(`/${org}/`));
    expect(pending).toHaveLength(1);
    await stack.sweep(); // not expired yet: kept
    expect((await stack.vault.names()).filter((name) => name.includes(`/${org}/`))).toEqual(pending);
    stack.clock.advance(11 * 60_000);
    try {
      expect((await stack.sweep()).installsExpired).toBeGreaterThanOrEqual(1);
      expect((await stack.vault.names()).filter((name) => name.includes(`/${org}/`))).toEqual([]);
      const late = await confirmInstall(stack, landed, await tokenFor(stack, org));
      expect(late.status).toBe(404);
      expect((late.json.error as { code: string }).code).toBe('install_not_found');
      expect((await status(org)).status).toBe('not_connected');
    } finally {
      stack.clock.advance(-11 * 60_000);
    }
  });

  it('refuses a confirmation that is not an install token with 400', async () => {
    const token = await tokenFor(stack, newOrg());
    for (const body of [
      {},
      { install: 'short' },
      { install: 'A'.repeat(43) },
      { install: `inst_${'x'.repeat(43)}`, extra: 1 },
      'not json',
    ]) {
      const response = await api(stack, 'POST', '/v1/integrations/stripe/connect/confirm', { token, body });
      expect(response.status).toBe(400);
    }
    const unknown = await api(stack, 'POST', '/v1/integrations/stripe/connect/confirm', {
      token,
      body: { install: `inst_${'A'.repeat(43)}` },
    });
    expect(unknown.status).toBe(404);
  });

  it('refuses a reused authorization code with reason=invalid_grant', async () => {
    const org = newOrg();
    const first = await startConnect(stack, org);
    const callback = await decide(stack, first.authorizeUrl, 'install');
    const confirming = await followCallback(callback);
    expect((await confirmInstall(stack, confirming, await tokenFor(stack, org))).status).toBe(200);
    const connectionId = (await onlyConnection(stack.store, org))?.connectionId;
    const second = await startConnect(stack, org);
    callback.searchParams.set('state', second.state); // a valid new state, the old code
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('reason')).toBe('invalid_grant');
    expect((await onlyConnection(stack.store, org))?.connectionId).toBe(connectionId);
    await assertSecretsConsistent(stack, [org]);
  });

  it('refuses a code exchanged with the wrong mode’s key (reason=invalid_grant)', async () => {
    const org = newOrg();
    const { state } = await startConnect(stack, org, { mode: 'live' });
    const testCode = stack.sandbox.sandbox.install(DEMO_ACCOUNT, 'test');
    const callback = new URL(`${stack.url}/v1/integrations/stripe/callback`);
    callback.searchParams.set('code', testCode);
    callback.searchParams.set('state', state);
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('reason')).toBe('invalid_grant');
    expect((await status(org)).status).toBe('not_connected');
  });

  it.each([
    ['answers 500', { kind: '500', rate: 1 }],
    ['times out', { kind: 'latency', latencyMs: 3000, rate: 1 }],
    ['drops the connection', { kind: 'drop', rate: 1 }],
  ])(
    'when the token endpoint %s: reason=stripe_unavailable, no secret and no connection',
    async (_name, fault) => {
      const org = newOrg();
      const { authorizeUrl } = await startConnect(stack, org);
      const callback = await decide(stack, authorizeUrl, 'install');
      stack.sandbox.faults.push({
        id: 'tok',
        route: 'POST /v1/oauth/token',
        seen: 0,
        ...(fault as { kind: 'latency' }),
      });
      const landed = await followCallback(callback);
      expect(landed.searchParams.get('stripe')).toBe('error');
      expect(landed.searchParams.get('reason')).toBe('stripe_unavailable');
      expect(await onlyConnection(stack.store, org)).toBeUndefined();
      expect((await stack.vault.names()).filter((name) => name.includes(`/${org}/`))).toEqual([]);
      await assertSecretsConsistent(stack, [org]);
    },
  );

  it('two concurrent callbacks with one state: exactly one connects', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install');
    const outcomes = await Promise.all([
      followCallback(callback),
      followCallback(callback),
      followCallback(callback),
    ]);
    const reasons = outcomes.map((u) =>
      u.searchParams.get('stripe') === 'confirm' ? 'confirm' : u.searchParams.get('reason'),
    );
    expect(reasons.filter((r) => r === 'confirm')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'invalid_state')).toHaveLength(2);
    expect((await stack.vault.names()).filter((name) => name.includes(`/${org}/`))).toHaveLength(1);
    const winner = outcomes.find((u) => u.searchParams.get('stripe') === 'confirm') as URL;
    expect((await confirmInstall(stack, winner, await tokenFor(stack, org))).status).toBe(200);
    await assertSecretsConsistent(stack, [org]);
  });

  it('reconnecting the same account replaces its tokens; connecting another account adds a connection beside it', async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: DEMO_ACCOUNT });
    const first = await onlyConnection(stack.store, org);
    expect((await connectOrg(stack, org, { account: DEMO_ACCOUNT })).outcome).toBe('connected');
    const again = await onlyConnection(stack.store, org);
    expect(again?.connectionId).not.toBe(first?.connectionId);
    expect(again?.slot).toBe(first?.slot);
    expect(await stack.vault.read(first?.secretName as string)).toBeUndefined();
    expect(
      (await stack.store.accountLinks(DEMO_ACCOUNT))
        .filter((l) => l.orgId === org)
        .map((l) => l.connectionId),
    ).toEqual([again?.connectionId]);

    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    const both = await stack.store.listConnections(org);
    expect(both.map((c) => c.accountId).sort()).toEqual([BAKERY_ACCOUNT, DEMO_ACCOUNT].sort());
    expect(both.every((c) => c.status === 'connected')).toBe(true);
    expect((await stack.store.accountLinks(DEMO_ACCOUNT)).map((l) => l.orgId)).toContain(org);
    expect((await stack.store.accountLinks(BAKERY_ACCOUNT)).map((l) => l.orgId)).toContain(org);
    await assertSecretsConsistent(stack, [org]);
  });
});

describe('status and disconnect', () => {
  it('shows not_connected, with no-store caching, when there is no connection', async () => {
    const org = newOrg();
    const response = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, org, 'member'),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.json).toEqual({
      status: 'not_connected',
      account: null,
      connectedAt: null,
      connections: [],
      sync: {
        state: 'idle',
        lastSuccessAt: null,
        lastError: null,
        counts: {},
        progress: null,
        resourceErrors: {},
      },
    });
  });

  it('disconnects: 204, tokens deleted, link removed, status disconnected; again is 204 too', async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    const connection = await onlyConnection(stack.store, org);
    const token = await tokenFor(stack, org);
    const first = await api(stack, 'DELETE', '/v1/integrations/stripe', { token });
    expect(first.status).toBe(204);
    expect(first.text).toBe('');
    expect(await stack.vault.read(connection?.secretName as string)).toBeUndefined();
    expect((await stack.store.accountLinks(BAKERY_ACCOUNT)).map((l) => l.orgId)).not.toContain(org);
    expect((await status(org)).status).toBe('disconnected');
    expect((await onlyConnection(stack.store, org))?.secretName).toBeNull();
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token })).status).toBe(204);
    expect(
      (await api(stack, 'DELETE', '/v1/integrations/stripe', { token: await tokenFor(stack, newOrg()) }))
        .status,
    ).toBe(204);
    await assertSecretsConsistent(stack, [org]);
  });

  it('shows each lifecycle state: connected, needs_reauth, revoked, disconnected — and connecting again works from each', async () => {
    const org = newOrg();
    const deps = { store: stack.store, vault: stack.vault, clock: stack.clock, events: stack.bus };
    for (const to of ['needs_reauth', 'revoked', 'disconnected'] as const) {
      await connectOrg(stack, org);
      expect((await status(org)).status).toBe('connected');
      await endConnection(deps, await onlyRef(stack.store, org), to, 'test');
      const view = await status(org);
      expect(view.status).toBe(to);
      expect(view.account).toMatchObject({ id: DEMO_ACCOUNT, livemode: false });
    }
    expect((await connectOrg(stack, org)).outcome).toBe('connected');
    await assertSecretsConsistent(stack, [org]);
  });
});

describe('auth and isolation', () => {
  it('answers 401 without a valid token, 403 for a member on admin routes and for a token without an org', async () => {
    const org = newOrg();
    expect((await api(stack, 'GET', '/v1/integrations/stripe/status')).status).toBe(401);
    expect(
      (await api(stack, 'POST', '/v1/integrations/stripe/connect', { token: 'not.a.token' })).status,
    ).toBe(401);
    const member = await tokenFor(stack, org, 'member');
    const connect = await api(stack, 'POST', '/v1/integrations/stripe/connect', { token: member });
    expect(connect.status).toBe(403);
    expect(connect.json).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token: member })).status).toBe(403);
    expect((await api(stack, 'GET', '/v1/integrations/stripe/status', { token: member })).status).toBe(200);
    const noOrg = await stack.issuer.issue({ roles: ['admin'] });
    expect((await api(stack, 'GET', '/v1/integrations/stripe/status', { token: noOrg })).status).toBe(403);
  });

  it("org B's token never sees or changes org A's connection", async () => {
    const orgA = newOrg();
    const orgB = newOrg();
    await connectOrg(stack, orgA, { account: BAKERY_ACCOUNT });
    const tokenB = await tokenFor(stack, orgB);
    const seen = await api(stack, 'GET', '/v1/integrations/stripe/status', { token: tokenB });
    expect(seen.json.status).toBe('not_connected');
    expect(seen.text).not.toContain(BAKERY_ACCOUNT);
    // Body and query cannot name another org.
    const sneaky = await api(stack, 'GET', `/v1/integrations/stripe/status?org_id=${orgA}`, {
      token: tokenB,
    });
    expect(sneaky.json.status).toBe('not_connected');
    // A smuggled org in the query is refused (the query takes `records` alone), and changes nothing.
    expect(
      (await api(stack, 'DELETE', `/v1/integrations/stripe?org_id=${orgA}`, { token: tokenB })).status,
    ).toBe(400);
    expect((await status(orgA)).status).toBe('connected');
    const bodyOrg = await api(stack, 'POST', '/v1/integrations/stripe/connect', {
      token: tokenB,
      body: { orgId: orgA },
    });
    expect(bodyOrg.status).toBe(400);
  });

  it('refuses a returnTo outside the frontend, and keeps an allowed path', async () => {
    const org = newOrg();
    const token = await tokenFor(stack, org);
    for (const returnTo of [
      'https://evil.example/x',
      '//evil.example/x',
      'javascript:alert(1)',
      `${stack.url}\\@evil.example`,
    ]) {
      const response = await api(stack, 'POST', '/v1/integrations/stripe/connect', {
        token,
        body: { returnTo },
      });
      expect(response.status).toBe(400);
      expect((response.json.error as { code: string }).code).toBe('invalid_return_to');
    }
    const { landed } = await connectOrg(stack, org, { body: { returnTo: '/settings/stripe?tab=1' } });
    expect(landed.pathname).toBe('/settings/stripe');
    expect(landed.searchParams.get('tab')).toBe('1');
    expect(landed.searchParams.get('stripe')).toBe('confirm');
  });

  it('limits connect starts per org (which caps its outstanding states), not other orgs', async () => {
    const org = newOrg();
    const token = await tokenFor(stack, org);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await api(stack, 'POST', '/v1/integrations/stripe/connect', { token })).status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect(
      (
        await api(stack, 'POST', '/v1/integrations/stripe/connect', {
          token: await tokenFor(stack, newOrg()),
        })
      ).status,
    ).toBe(200);
  });

  it('answers bad bodies with a clear 4xx in the JSON error shape', async () => {
    const token = await tokenFor(stack, newOrg());
    const notJson = await api(stack, 'POST', '/v1/integrations/stripe/connect', { token, body: '{nope' });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toEqual({ error: { code: 'invalid_json', message: 'The body is not valid JSON.' } });
    const badMode = await api(stack, 'POST', '/v1/integrations/stripe/connect', {
      token,
      body: { mode: 'prod' },
    });
    expect(badMode.status).toBe(400);
    expect((badMode.json.error as { message: string }).message).toContain('mode');
  });

  it('allows CORS for the frontend origin only', async () => {
    const allowed = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, newOrg(), 'member'),
      headers: { origin: stack.url },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(stack.url);
    const other = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, newOrg(), 'member'),
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
