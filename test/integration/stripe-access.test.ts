import type { LocalStack } from '../../local/stack.js';
import { HttpStripeTokenClient } from '../../shared/adapters/stripe/token-client.js';
import { endConnection } from '../../shared/connect/end-connection.js';
import { StaticAppCredentials } from '../../shared/ports/app-credentials.js';
import { OAuthGrantError } from '../../shared/ports/stripe-token-client.js';
import type { TokenVault } from '../../shared/ports/token-vault.js';
import { ConnectionUnavailableError, StripeAccess } from '../../shared/stripe/stripe-access.js';
import { onlyConnection, onlyRef } from '../support/connections.js';
import {
  api,
  assertSecretsConsistent,
  connectOrg,
  startTestStack,
  type TestClock,
  tokenFor,
  tokenRequests,
} from '../support/local-stack.js';
import { capturedOutput, registerSecret } from '../support/log-capture.js';

jest.setTimeout(60_000);

let stack: LocalStack & { clock: TestClock };
let n = 0;
const newOrg = () => `org_access_${++n}`;
const HOUR = 60 * 60 * 1000;

beforeAll(async () => {
  stack = await startTestStack();
  // Token refreshes are counted here: the first syncs (which refresh too) stay queued.
  stack.queues.sync.pause();
});
afterAll(() => stack.close());
afterEach(() => {
  stack.clock.offsetMs = 0;
});

/** One StripeAccess per simulated Lambda container: they share only DynamoDB, the vault and Stripe. */
function container(vault: TokenVault = stack.vault) {
  const credentials = new StaticAppCredentials({
    secretKeys: stack.sandbox.sandbox.secretKeys,
    webhookSecrets: [],
  });
  return new StripeAccess({
    store: stack.store,
    vault,
    tokens: new HttpStripeTokenClient(credentials, stack.sandbox.url, 5000),
    clock: stack.clock,
    client: { apiBase: stack.sandbox.url, timeoutMs: 5000, maxNetworkRetries: 0 },
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
  });
}

async function tokensOf(orgId: string) {
  const connection = await onlyConnection(stack.store, orgId);
  const tokens = await stack.vault.read(connection?.secretName as string);
  if (tokens) {
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
  }
  return tokens;
}

describe('StripeAccess', () => {
  it('hands out a client for a fresh token without refreshing', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const before = tokenRequests(stack).length;
    const { stripe } = await container().forRef(await onlyRef(stack.store, org));
    expect((await stripe.charges.list({ limit: 1 })).data).toHaveLength(1);
    expect(tokenRequests(stack).length).toBe(before);
  });

  it('refreshes an expiring token exactly once for 10 concurrent callers in 10 containers, saving the rotated refresh token', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const original = await tokensOf(org);
    stack.clock.advance(HOUR - 4 * 60_000); // within the 5-minute window
    const before = tokenRequests(stack).length;
    const ref = await onlyRef(stack.store, org);
    const sessions = await Promise.all(Array.from({ length: 10 }, () => container().forRef(ref)));
    expect(tokenRequests(stack).length - before).toBe(1);
    const saved = await tokensOf(org);
    expect(saved?.refreshToken).not.toBe(original?.refreshToken);
    expect(new Set(sessions.map((s) => s.accessToken))).toEqual(new Set([saved?.accessToken]));
    for (const { stripe } of sessions.slice(0, 3))
      await expect(stripe.charges.list({ limit: 1 })).resolves.toBeDefined();
    // The saved refresh token is the live one: it refreshes again; the original is dead.
    stack.clock.advance(HOUR);
    await expect(container().forRef(await onlyRef(stack.store, org))).resolves.toBeDefined();
    expect(tokenRequests(stack).length - before).toBe(2);
  });

  it('refreshes once after a 401 on a token that still looked fresh', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const access = container();
    const first = await access.forRef(await onlyRef(stack.store, org));
    stack.sandbox.sandbox.expireAccessTokens();
    await expect(first.stripe.charges.list()).rejects.toMatchObject({ statusCode: 401 });
    const again = await access.refreshAfterUnauthorized(await onlyRef(stack.store, org), first.accessToken);
    expect(again.accessToken).not.toBe(first.accessToken);
    await expect(again.stripe.charges.list({ limit: 1 })).resolves.toBeDefined();
    // Another caller with the same stale token does not refresh a second time.
    const before = tokenRequests(stack).length;
    await container().refreshAfterUnauthorized(await onlyRef(stack.store, org), first.accessToken);
    expect(tokenRequests(stack).length).toBe(before);
  });

  it('marks the connection needs_reauth and deletes its tokens when Stripe says invalid_grant', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const connection = await onlyConnection(stack.store, org);
    // The tokens die quietly: no webhook endpoint hears of an uninstall (one that did would revoke).
    const endpoints = stack.sandbox.sandbox.endpoints.splice(0);
    try {
      stack.sandbox.sandbox.uninstall(connection?.accountId as string, 'test');
    } finally {
      stack.sandbox.sandbox.endpoints.push(...endpoints);
    }
    stack.clock.advance(HOUR);
    const error = await container()
      .forRef(await onlyRef(stack.store, org))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionUnavailableError);
    expect((error as ConnectionUnavailableError).code).toBe('needs_reauth');
    const view = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, org, 'member'),
    });
    expect(view.json.status).toBe('needs_reauth');
    expect(await stack.vault.read(connection?.secretName as string)).toBeUndefined();
    await expect(container().forRef(await onlyRef(stack.store, org))).rejects.toMatchObject({
      code: 'needs_reauth',
    });
    await assertSecretsConsistent(stack, [org]);
  });

  it('a refresh refused after an uninstall revoked the connection meanwhile says revoked, not needs_reauth', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const ref = await onlyRef(stack.store, org);
    const connection = await onlyConnection(stack.store, org);
    const credentials = new StaticAppCredentials({
      secretKeys: stack.sandbox.sandbox.secretKeys,
      webhookSecrets: [],
    });
    const real = new HttpStripeTokenClient(credentials, stack.sandbox.url, 5000);
    const access = new StripeAccess({
      store: stack.store,
      vault: stack.vault,
      // Between the tokens' read and Stripe's answer, the uninstall's webhook revokes the connection.
      tokens: {
        exchangeCode: (...args) => real.exchangeCode(...args),
        refresh: async () => {
          await endConnection(
            { store: stack.store, vault: stack.vault, clock: stack.clock, events: stack.bus },
            ref,
            'revoked',
            'deauthorized',
            connection?.connectionId,
          );
          throw new OAuthGrantError('invalid_grant', 'the refresh token is no longer valid');
        },
      },
      clock: stack.clock,
      client: { apiBase: stack.sandbox.url, timeoutMs: 5000, maxNetworkRetries: 0 },
      events: stack.bus,
    });
    stack.clock.advance(HOUR);
    await expect(access.forRef(ref)).rejects.toMatchObject({ code: 'revoked' });
    const ended = await onlyConnection(stack.store, org);
    expect([ended?.status, ended?.statusReason]).toEqual(['revoked', 'deauthorized']);
  });

  it('never loses a rotated refresh token silently: a save that keeps failing means needs_reauth with an alert', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    const failingWrites: TokenVault = {
      create: (...a) => stack.vault.create(...a),
      read: (name) => stack.vault.read(name),
      delete: (name) => stack.vault.delete(name),
      write: async () => {
        throw new Error('Secrets Manager is down');
      },
    };
    stack.clock.advance(HOUR);
    await expect(container(failingWrites).forRef(await onlyRef(stack.store, org))).rejects.toMatchObject({
      code: 'needs_reauth',
    });
    expect((await onlyConnection(stack.store, org))?.status).toBe('needs_reauth');
    expect(capturedOutput()).toContain('token_save_failed');
  });

  it('saves after a transient vault failure and carries on', async () => {
    const org = newOrg();
    await connectOrg(stack, org);
    let failures = 2;
    const flaky: TokenVault = {
      create: (...a) => stack.vault.create(...a),
      read: (name) => stack.vault.read(name),
      delete: (name) => stack.vault.delete(name),
      write: async (name, tokens) => {
        if (failures-- > 0) throw new Error('throttled');
        return stack.vault.write(name, tokens);
      },
    };
    stack.clock.advance(HOUR);
    const session = await container(flaky).forRef(await onlyRef(stack.store, org));
    expect((await tokensOf(org))?.accessToken).toBe(session.accessToken);
    expect((await onlyConnection(stack.store, org))?.status).toBe('connected');
  });

  it('refuses connections that are not connected', async () => {
    await expect(container().forRef({ orgId: newOrg(), slot: 'stripe' })).rejects.toMatchObject({
      code: 'not_connected',
    });
    const org = newOrg();
    await connectOrg(stack, org);
    await api(stack, 'DELETE', '/v1/integrations/stripe', { token: await tokenFor(stack, org) });
    await expect(container().forRef(await onlyRef(stack.store, org))).rejects.toMatchObject({
      code: 'disconnected',
    });
  });
});
