import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import type { StripeSandbox } from '../../local/stripe-sandbox/server.js';
import { connectAccount, oauthToken, startTestSandbox, stripeFor } from '../support/sandbox.js';

// Generating accounts of a quarter of a million objects takes seconds on a loaded machine.
jest.setTimeout(120_000);

const ACCOUNT = 'acct_1SbxTestAccount01';
const OTHER = 'acct_1SbxOtherAccount2';
const COUNTS = {
  balance_transactions: 1234,
  charges: 321,
  refunds: 45,
  invoices: 130,
  credit_notes: 12,
  disputes: 7,
};

let sandbox: StripeSandbox;
let stripe: Stripe;

beforeAll(async () => {
  sandbox = await startTestSandbox({
    accounts: [
      { id: ACCOUNT, name: 'Test Account', counts: COUNTS },
      { id: OTHER, name: 'Other', counts: { charges: 5 } },
    ],
  });
  const tokens = await connectAccount(sandbox, ACCOUNT);
  stripe = stripeFor(sandbox, tokens.access_token);
});
afterAll(() => sandbox.close());

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('read API through stripe-node', () => {
  it.each([
    ['balance_transactions', () => stripe.balanceTransactions.list({ limit: 100 })],
    ['charges', () => stripe.charges.list({ limit: 100 })],
    ['refunds', () => stripe.refunds.list({ limit: 100 })],
    ['invoices', () => stripe.invoices.list({ limit: 100 })],
    ['credit_notes', () => stripe.creditNotes.list({ limit: 100 })],
    ['disputes', () => stripe.disputes.list({ limit: 100 })],
  ] as const)(
    'auto-paginates %s: exactly the seeded objects, newest first, no gap or duplicate',
    async (name, list) => {
      const objects = (await all(list() as AsyncIterable<{ id: string; created: number }>)) as Array<{
        id: string;
        created: number;
      }>;
      expect(objects).toHaveLength(COUNTS[name]);
      expect(new Set(objects.map((o) => o.id)).size).toBe(COUNTS[name]);
      for (let i = 1; i < objects.length; i++) {
        expect((objects[i] as { created: number }).created).toBeLessThanOrEqual(
          (objects[i - 1] as { created: number }).created,
        );
      }
    },
  );

  it('pages with starting_after exactly as auto-pagination does', async () => {
    const first = await stripe.charges.list({ limit: 7 });
    expect(first.has_more).toBe(true);
    expect(first.url).toBe('/v1/charges');
    const second = await stripe.charges.list({ limit: 7, starting_after: first.data[6]?.id });
    const both = await stripe.charges.list({ limit: 14 });
    expect([...first.data, ...second.data].map((c) => c.id)).toEqual(both.data.map((c) => c.id));
  });

  it('pages backwards with ending_before, newest first, the page nearest the cursor', async () => {
    const page = await stripe.charges.list({ limit: 30 });
    const cursor = page.data[20]?.id as string;
    const before = await stripe.charges.list({ limit: 5, ending_before: cursor });
    expect(before.data.map((c) => c.id)).toEqual(page.data.slice(15, 20).map((c) => c.id));
    expect(before.has_more).toBe(true);
    const top = await stripe.charges.list({ limit: 5, ending_before: page.data[2]?.id as string });
    expect(top.data.map((c) => c.id)).toEqual(page.data.slice(0, 2).map((c) => c.id));
    expect(top.has_more).toBe(false);
  });

  it('filters by created ranges', async () => {
    const everything = await all(stripe.balanceTransactions.list({ limit: 100 }));
    const mid = (everything[600] as Stripe.BalanceTransaction).created;
    const gte = await all(stripe.balanceTransactions.list({ limit: 100, created: { gte: mid } }));
    expect(gte.map((t) => t.id)).toEqual(everything.filter((t) => t.created >= mid).map((t) => t.id));
    const lt = await all(stripe.balanceTransactions.list({ limit: 100, created: { lt: mid } }));
    expect(lt.length + gte.length).toBe(everything.length);
    const exact = await stripe.balanceTransactions.list({ created: mid });
    expect(exact.data.every((t) => t.created === mid)).toBe(true);
    expect(exact.data.length).toBeGreaterThan(0);
  });

  it('retrieves by id, and serves invoice lines past the embedded first page', async () => {
    const [charge] = (await stripe.charges.list({ limit: 1 })).data;
    expect((await stripe.charges.retrieve(charge?.id as string)).amount).toBe(charge?.amount);
    const invoices = await all(stripe.invoices.list({ limit: 100 }));
    const long = invoices.find((i) => i.lines.has_more) as Stripe.Invoice;
    expect(long).toBeDefined();
    expect(long.lines.data).toHaveLength(10);
    const lines = await all(stripe.invoices.listLineItems(long.id as string, { limit: 5 }));
    expect(lines).toHaveLength(14);
    expect(lines.slice(0, 10).map((l) => l.id)).toEqual(long.lines.data.map((l) => l.id));
  });

  it('gives the errors stripe-node maps: bad limit, unknown id, unknown cursor, unknown parameter', async () => {
    await expect(stripe.charges.list({ limit: 101 })).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    await expect(stripe.charges.list({ limit: 0 })).rejects.toMatchObject({
      param: 'limit',
      statusCode: 400,
    });
    await expect(stripe.charges.retrieve('ch_doesnotexist')).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'resource_missing',
      statusCode: 404,
    });
    await expect(stripe.charges.list({ starting_after: 'ch_nope' })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(stripe.charges.list({ bogus: 1 } as Stripe.ChargeListParams)).rejects.toMatchObject({
      param: 'bogus',
    });
  });

  it('rejects a bad key and an expired key with StripeAuthenticationError', async () => {
    await expect(stripeFor(sandbox, 'sk_test_notarealkey').charges.list()).rejects.toBeInstanceOf(
      Stripe.errors.StripeAuthenticationError,
    );
    const tokens = await connectAccount(sandbox, OTHER);
    const client = stripeFor(sandbox, tokens.access_token);
    await expect(client.charges.list()).resolves.toMatchObject({ object: 'list' });
    sandbox.sandbox.advanceClock(3601);
    await expect(client.charges.list()).rejects.toMatchObject({
      type: 'StripeAuthenticationError',
      code: 'api_key_expired',
    });
    sandbox.sandbox.advanceClock(-3601);
  });

  it('adds an account of any size over the control API', async () => {
    const response = await fetch(`${sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      body: JSON.stringify({
        id: 'acct_1SbxLargeAccount9',
        name: 'Large',
        counts: { balance_transactions: 250_000, charges: 0 },
      }),
    });
    expect(response.status).toBe(200);
    const tokens = await connectAccount(sandbox, 'acct_1SbxLargeAccount9');
    const client = stripeFor(sandbox, tokens.access_token);
    const page = await client.balanceTransactions.list({ limit: 100 });
    expect(page.data).toHaveLength(100);
    expect(page.has_more).toBe(true);
    const oldest = await client.balanceTransactions.list({
      limit: 1,
      ending_before: page.data[0]?.id as string,
    });
    expect(oldest.data).toHaveLength(0);
    expect((await client.charges.list()).data).toHaveLength(0);
    const bad = await fetch(`${sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      body: JSON.stringify({ id: 'acct_1SbxBadCounts0001', counts: { charges: -1 } }),
    });
    expect(bad.status).toBe(400);
  });

  it('keeps accounts apart: a token reads only its own account', async () => {
    const other = stripeFor(sandbox, (await connectAccount(sandbox, OTHER)).access_token);
    expect((await all(other.charges.list({ limit: 100 }))).length).toBe(5);
    expect((await other.accounts.retrieveCurrent()).id).toBe(OTHER);
    const [mine] = (await stripe.charges.list({ limit: 1 })).data;
    await expect(other.charges.retrieve(mine?.id as string)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('keeps accounts added over the control API across a restart, with the same objects', async () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'sandbox-state-')), 'sandbox.json');
    const first = await startTestSandbox({ stateFile });
    const added = await fetch(`${first.url}/_sandbox/accounts`, {
      method: 'POST',
      body: JSON.stringify({ id: 'acct_1SbxKeptAccount01', name: 'Kept', counts: { charges: 42 } }),
    });
    expect(added.status).toBe(200);
    const before = stripeFor(first, (await connectAccount(first, 'acct_1SbxKeptAccount01')).access_token);
    const ids = (await all(before.charges.list({ limit: 100 }))).map((c) => c.id);
    expect(ids).toHaveLength(42);
    await first.close();

    const again = await startTestSandbox({ stateFile });
    try {
      const info = (await (await fetch(`${again.url}/_sandbox/info`)).json()) as {
        accounts: Array<{ id: string; name: string; counts: { charges: number } }>;
      };
      expect(info.accounts).toContainEqual(
        expect.objectContaining({
          id: 'acct_1SbxKeptAccount01',
          name: 'Kept',
          counts: expect.objectContaining({ charges: 42 }),
        }),
      );
      const after = stripeFor(again, (await connectAccount(again, 'acct_1SbxKeptAccount01')).access_token);
      expect((await all(after.charges.list({ limit: 100 }))).map((c) => c.id)).toEqual(ids);
    } finally {
      await again.close();
    }
  });
});

describe('faults and the request log', () => {
  afterEach(() => {
    sandbox.faults.length = 0;
  });

  it('answers 429 as StripeRateLimitError, with Stripe-Should-Retry when asked', async () => {
    sandbox.faults.push({
      id: 'f1',
      route: 'GET /v1/charges',
      kind: '429',
      nth: 1,
      shouldRetry: false,
      seen: 0,
    });
    const error = await stripe.charges.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect((error as Stripe.errors.StripeError).headers?.['stripe-should-retry']).toBe('false');
    await expect(stripe.charges.list()).resolves.toMatchObject({ object: 'list' });
  });

  it('fails the Nth request with a 500 and drops connections on request', async () => {
    sandbox.faults.push({ id: 'f2', route: 'GET /v1/refunds', kind: '500', nth: 2, seen: 0 });
    await expect(stripe.refunds.list()).resolves.toBeDefined();
    await expect(stripe.refunds.list()).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    // stripe-node retries a closed connection once even with retries off, so drop every request.
    sandbox.requests.length = 0;
    sandbox.faults.push({ id: 'f3', route: 'GET /v1/disputes', kind: 'drop', rate: 1, seen: 0 });
    await expect(stripe.disputes.list()).rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(sandbox.requests.filter((r) => r.fault === 'drop')).toHaveLength(2);
  });

  it('adds latency and logs every request with route, account and time', async () => {
    sandbox.requests.length = 0;
    sandbox.faults.push({
      id: 'f4',
      route: 'GET /v1/invoices',
      kind: 'latency',
      latencyMs: 150,
      rate: 1,
      seen: 0,
    });
    const started = Date.now();
    await stripe.invoices.list({ limit: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const log = (await (await fetch(`${sandbox.url}/_sandbox/requests?account=${ACCOUNT}`)).json()) as {
      data: unknown[];
    };
    expect(log.data).toEqual([
      expect.objectContaining({
        route: 'GET /v1/invoices',
        account: ACCOUNT,
        mode: 'test',
        status: 200,
        fault: 'latency',
      }),
    ]);
  });

  it('sets faults over HTTP too', async () => {
    const response = await fetch(`${sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ route: 'GET /v1/charges/:id', kind: '500', rate: 1 }),
    });
    expect(response.status).toBe(200);
    await expect(stripe.charges.retrieve('ch_any')).rejects.toMatchObject({ statusCode: 500 });
  });
});

describe('Stripe Apps OAuth', () => {
  const secret = () => sandbox.sandbox.secretKeys;

  it('exchanges a code once, with Stripe’s response fields and no expires_in', async () => {
    const code = sandbox.sandbox.install(ACCOUNT, 'test');
    const first = await oauthToken(sandbox, secret().test, { grant_type: 'authorization_code', code });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      access_token: expect.stringMatching(/^sk_test_/),
      refresh_token: expect.stringMatching(/^rt_/),
      token_type: 'bearer',
      scope: 'stripe_apps',
      livemode: false,
      stripe_user_id: ACCOUNT,
      stripe_publishable_key: expect.stringMatching(/^pk_test_/),
    });
    const again = await oauthToken(sandbox, secret().test, { grant_type: 'authorization_code', code });
    expect(again).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
  });

  it('refuses a code with the other mode’s key, and an expired code', async () => {
    const code = sandbox.sandbox.install(ACCOUNT, 'test');
    const wrong = await oauthToken(sandbox, secret().live, { grant_type: 'authorization_code', code });
    expect(wrong.body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('does not belong to you'),
    });
    const stale = sandbox.sandbox.install(ACCOUNT, 'test');
    sandbox.sandbox.advanceClock(301);
    const late = await oauthToken(sandbox, secret().test, { grant_type: 'authorization_code', code: stale });
    sandbox.sandbox.advanceClock(-301);
    expect(late.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('rejects the token endpoint without the app’s secret key', async () => {
    const response = await oauthToken(sandbox, 'sk_test_wrongwrongwrongwrong', {
      grant_type: 'refresh_token',
      refresh_token: 'rt_x',
    });
    expect(response.status).toBe(401);
  });

  it('rotates refresh tokens: the new one works, the old one stops', async () => {
    const tokens = await connectAccount(sandbox, ACCOUNT);
    const refreshed = await oauthToken(sandbox, secret().test, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.body.stripe_user_id).toBe(ACCOUNT);
    const reuse = await oauthToken(sandbox, secret().test, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(reuse.body).toMatchObject({ error: 'invalid_grant' });
    const next = await oauthToken(sandbox, secret().test, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token as string,
    });
    expect(next.status).toBe(200);
    await expect(stripeFor(sandbox, next.body.access_token as string).charges.list()).resolves.toBeDefined();
  });

  it('maps invalid_grant to StripeInvalidGrantError when called through stripe-node', async () => {
    const error = await stripe
      .rawRequest(
        'POST',
        '/v1/oauth/token',
        { grant_type: 'refresh_token', refresh_token: 'rt_unknown' },
        { apiKey: secret().test },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidGrantError);
  });

  it('serves the install page only for the app and its registered redirect URIs', async () => {
    sandbox.sandbox.redirectUris.add('http://localhost:9/cb');
    const good = await fetch(
      `${sandbox.url}/oauth/v2/chnlink_abc/authorize?client_id=${sandbox.sandbox.clientId}&redirect_uri=http://localhost:9/cb&state=s1`,
    );
    const page = await good.text();
    expect(good.status).toBe(200);
    expect(page).toContain('test version');
    expect(page).toContain('Install app');
    expect(page).toContain(ACCOUNT);
    const live = await (
      await fetch(
        `${sandbox.url}/oauth/v2/authorize?client_id=${sandbox.sandbox.clientId}&redirect_uri=http://localhost:9/cb`,
      )
    ).text();
    expect(live).not.toContain('test version');
    const badRedirect = await fetch(
      `${sandbox.url}/oauth/v2/authorize?client_id=${sandbox.sandbox.clientId}&redirect_uri=http://evil.example/cb`,
      { redirect: 'manual' },
    );
    expect(badRedirect.status).toBe(400);
    const badClient = await fetch(
      `${sandbox.url}/oauth/v2/authorize?client_id=ca_nope&redirect_uri=http://localhost:9/cb`,
      { redirect: 'manual' },
    );
    expect(badClient.status).toBe(400);
  });

  it('redirects with a code on Install and access_denied on Cancel, keeping state', async () => {
    const post = (decision: string) =>
      fetch(`${sandbox.url}/oauth/v2/chnlink_abc/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: sandbox.sandbox.clientId,
          redirect_uri: 'http://localhost:9/cb',
          state: 'st_1',
          account: ACCOUNT,
          decision,
        }),
      });
    const installed = new URL((await post('install')).headers.get('location') as string);
    expect(installed.origin + installed.pathname).toBe('http://localhost:9/cb');
    expect(installed.searchParams.get('state')).toBe('st_1');
    const code = installed.searchParams.get('code') as string;
    expect(code).toMatch(/^ac_/);
    expect(
      (await oauthToken(sandbox, secret().test, { grant_type: 'authorization_code', code })).status,
    ).toBe(200);
    const cancelled = new URL((await post('cancel')).headers.get('location') as string);
    expect(cancelled.searchParams.get('error')).toBe('access_denied');
    expect(cancelled.searchParams.get('error_description')).toBeTruthy();
    expect(cancelled.searchParams.get('state')).toBe('st_1');
    expect(cancelled.searchParams.has('code')).toBe(false);
  });
});

describe('activity, events and webhooks', () => {
  it('sends signed events that verify with constructEvent, and lists them on /v1/events', async () => {
    const received: Array<{ body: string; signature: string }> = [];
    let failFirst = true;
    const hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          signature: String(req.headers['stripe-signature']),
        });
        // The first delivery fails so the sandbox must retry it.
        res.statusCode = failFirst ? 500 : 200;
        failFirst = false;
        res.end();
      });
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const endpoint = sandbox.sandbox.addEndpoint(
      `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
      'test',
    );
    try {
      const { events } = sandbox.sandbox.createActivity(ACCOUNT, 'test', 'refund');
      await sandbox.sandbox.webhooksIdle();
      expect(events).toHaveLength(2);
      const secret = sandbox.sandbox.webhookSecrets[0] as string;
      const verified = received.map((r) => stripe.webhooks.constructEvent(r.body, r.signature, secret));
      expect(new Set(verified.map((e) => e.id))).toEqual(new Set(events));
      expect(verified.map((e) => e.type)).toEqual(
        expect.arrayContaining(['refund.created', 'charge.refunded']),
      );
      expect(verified.every((e) => (e as Stripe.Event & { account?: string }).account === ACCOUNT)).toBe(
        true,
      );
      expect(received.length).toBe(3); // one retry after the 500
      expect(() =>
        stripe.webhooks.constructEvent(received[0]?.body ?? '', received[0]?.signature ?? '', 'whsec_wrong'),
      ).toThrow(Stripe.errors.StripeSignatureVerificationError);
      const listed = await stripe.events.list({ types: ['refund.created', 'charge.refunded'] });
      expect(listed.data.map((e) => e.id)).toEqual([...events].reverse());
      const charges = await stripe.events.list({ type: 'charge.*' });
      expect(charges.data.map((e) => e.type)).toEqual(['charge.refunded']);
    } finally {
      sandbox.sandbox.removeEndpoint(endpoint.id);
      hook.close();
    }
  });

  it('signs with every active secret while one is rolled', async () => {
    const payload = '{"id":"evt_1"}';
    const old = sandbox.sandbox.webhookSecrets[0] as string;
    const fresh = sandbox.sandbox.rollWebhookSecret();
    const header = sandbox.sandbox.signature(payload);
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(() => stripe.webhooks.constructEvent(payload, header, old)).not.toThrow();
    expect(() => stripe.webhooks.constructEvent(payload, header, fresh)).not.toThrow();
    const t = header.split(',')[0]?.slice(2);
    const expected = createHmac('sha256', fresh).update(`${t}.${payload}`).digest('hex');
    expect(header).toContain(`v1=${expected}`);
    sandbox.sandbox.expireOldWebhookSecrets();
  });

  it('uninstall kills the tokens and emits account.application.deauthorized with the account', async () => {
    const tokens = await connectAccount(sandbox, OTHER, 'live');
    const client = stripeFor(sandbox, tokens.access_token);
    await expect(client.charges.list()).resolves.toBeDefined();
    expect(sandbox.sandbox.uninstall(OTHER, 'live')).toBe(true);
    await expect(client.charges.list()).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    const refreshed = await oauthToken(sandbox, sandbox.sandbox.secretKeys.live, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(refreshed.body).toMatchObject({ error: 'invalid_grant' });
    const data = sandbox.sandbox.accountData(OTHER, 'live');
    const last = data?.events.at(data.events.size - 1) as unknown as Stripe.Event & { account: string };
    expect(last).toMatchObject({ type: 'account.application.deauthorized', account: OTHER, livemode: true });
  });

  it('new charges show up first in the list, and events older than 30 days are gone', async () => {
    const { objects, events } = sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
    const [newest] = (await stripe.charges.list({ limit: 1 })).data;
    expect(newest?.id).toBe(objects[0]);
    expect((await stripe.events.list({ limit: 100 })).data.map((e) => e.id)).toContain(events[0]);
    sandbox.sandbox.advanceClock(31 * 86_400);
    const later = stripeFor(sandbox, (await connectAccount(sandbox, ACCOUNT)).access_token);
    const listed = await all(later.events.list({ limit: 100 }));
    sandbox.sandbox.advanceClock(-31 * 86_400);
    expect(listed.map((e) => e.id)).not.toContain(events[0]);
  });
});
