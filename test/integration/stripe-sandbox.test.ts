import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { APP_MANIFEST } from '../../local/stripe-sandbox/app-manifest.js';
import type { StripeSandbox } from '../../local/stripe-sandbox/server.js';
import {
  confirmationTarget,
  expectScreen,
  formOf,
  type InstallScreen,
  openInstallLink,
  press,
} from '../support/install-flow.js';
import { registerSecret } from '../support/log-capture.js';
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
    ['customers', () => stripe.customers.list({ limit: 100 })],
    ['products', () => stripe.products.list({ limit: 100 })],
    ['prices', () => stripe.prices.list({ limit: 100 })],
    ['coupons', () => stripe.coupons.list({ limit: 100 })],
    ['payouts', () => stripe.payouts.list({ limit: 100 })],
    ['subscriptions', () => stripe.subscriptions.list({ limit: 100, status: 'all' })],
    ['invoice_payments', () => stripe.invoicePayments.list({ limit: 100 })],
    ['subscription_schedules', () => stripe.subscriptionSchedules.list({ limit: 100 })],
  ] as const)(
    'auto-paginates %s: exactly the seeded objects, newest first, no gap or duplicate',
    async (name, list) => {
      const objects = (await all(list() as AsyncIterable<{ id: string; created: number }>)) as Array<{
        id: string;
        created: number;
      }>;
      // What was seeded (payouts: one per balance transaction of type payout).
      const seeded = sandbox.sandbox.accountData(ACCOUNT, 'test')?.counts[name] as number;
      expect(seeded).toBeGreaterThan(0);
      if (name in COUNTS) expect(seeded).toBe(COUNTS[name as keyof typeof COUNTS]);
      // Stripe lists active prices only: the archived ones are listed with active=false.
      const archived = name === 'prices' ? await all(stripe.prices.list({ limit: 100, active: false })) : [];
      if (name === 'prices') {
        expect(archived.length).toBeGreaterThan(0);
        expect(archived.every((p) => p.active === false)).toBe(true);
        expect(objects.every((p) => (p as { active?: boolean }).active === true)).toBe(true);
      }
      expect(objects.length + archived.length).toBe(seeded);
      expect(new Set([...objects, ...archived].map((o) => o.id)).size).toBe(seeded);
      for (let i = 1; i < objects.length; i++) {
        expect((objects[i] as { created: number }).created).toBeLessThanOrEqual(
          (objects[i - 1] as { created: number }).created,
        );
      }
    },
  );

  it('deletes as Stripe does: a deleted customer or coupon leaves the lists; a customer answers as deleted, a coupon 404', async () => {
    const customer = sandbox.sandbox.createActivity(OTHER, 'test', 'customer').objects[0] as string;
    const [deletedCustomer] = sandbox.sandbox.createActivity(OTHER, 'test', 'customer_deleted').objects;
    expect(deletedCustomer).toBe(customer);
    const [coupon] = sandbox.sandbox.createActivity(OTHER, 'test', 'coupon').objects;
    sandbox.sandbox.createActivity(OTHER, 'test', 'coupon_deleted');
    const other = stripeFor(sandbox, (await connectAccount(sandbox, OTHER)).access_token);
    expect((await all(other.customers.list({ limit: 100 }))).map((c) => c.id)).not.toContain(customer);
    await expect(other.customers.retrieve(customer)).resolves.toEqual({
      id: customer,
      object: 'customer',
      deleted: true,
    });
    expect((await all(other.coupons.list())).map((c) => c.id)).not.toContain(coupon);
    await expect(other.coupons.retrieve(coupon as string)).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    // Its events carry the object as it was.
    const events = await other.events.list({ types: ['customer.deleted', 'coupon.deleted'] });
    expect(events.data.map((e) => (e.data.object as { id: string }).id).sort()).toEqual(
      [customer, coupon as string].sort(),
    );
  });

  it('lists customers as Stripe does: one on a test clock only when asked for by its clock, yet retrievable and in the events', async () => {
    const [clocked] = sandbox.sandbox.createActivity(OTHER, 'test', 'test_clock_customer').objects;
    expect(() => sandbox.sandbox.createActivity(OTHER, 'live', 'test_clock_customer')).toThrow(/test mode/);
    const other = stripeFor(sandbox, (await connectAccount(sandbox, OTHER)).access_token);
    const customer = (await other.customers.retrieve(clocked as string)) as Stripe.Customer;
    expect(customer.test_clock).toMatch(/^clock_/);
    expect((await all(other.customers.list({ limit: 100 }))).map((c) => c.id)).not.toContain(clocked);
    const byClock = await all(
      other.customers.list({ limit: 100, test_clock: customer.test_clock as string }),
    );
    expect(byClock.map((c) => c.id)).toEqual([clocked]);
    const events = await other.events.list({ type: 'customer.created', limit: 100 });
    expect(events.data.map((e) => (e.data.object as { id: string }).id)).toContain(clocked);
    // The clock itself is listed, in test mode only.
    const clocks = await all(other.testHelpers.testClocks.list({ limit: 100 }));
    expect(clocks.map((c) => c.id)).toContain(customer.test_clock);
    expect(clocks[0]).toMatchObject({ object: 'test_helpers.test_clock', livemode: false, status: 'ready' });
    const live = stripeFor(sandbox, (await connectAccount(sandbox, OTHER, 'live')).access_token);
    await expect(live.testHelpers.testClocks.list({ limit: 1 })).rejects.toMatchObject({ statusCode: 400 });
  });

  it('lists subscriptions on a test clock only when asked by their clock or customer', async () => {
    const [customer, subscription] = sandbox.sandbox.createActivity(
      OTHER,
      'test',
      'test_clock_subscription',
    ).objects;
    const other = stripeFor(sandbox, (await connectAccount(sandbox, OTHER)).access_token);
    const sub = await other.subscriptions.retrieve(subscription as string);
    expect(sub.test_clock).toMatch(/^clock_/);
    const ids = async (params: Stripe.SubscriptionListParams) =>
      (await all(other.subscriptions.list({ limit: 100, status: 'all', ...params }))).map((s) => s.id);
    expect(await ids({})).not.toContain(subscription);
    expect(await ids({ test_clock: sub.test_clock as string })).toEqual([subscription]);
    expect(await ids({ customer: customer as string })).toEqual([subscription]);
  });

  it('lists subscriptions as Stripe does: canceled ones only with status=all (or canceled)', async () => {
    const everyOne = await all(stripe.subscriptions.list({ limit: 100, status: 'all' }));
    const byDefault = await all(stripe.subscriptions.list({ limit: 100 }));
    const canceled = await all(stripe.subscriptions.list({ limit: 100, status: 'canceled' }));
    expect(canceled.length).toBeGreaterThan(0);
    expect(canceled.every((s) => s.status === 'canceled' && s.canceled_at !== null)).toBe(true);
    expect(byDefault.every((s) => s.status !== 'canceled')).toBe(true);
    expect(byDefault.length + canceled.length).toBe(everyOne.length);
    // Items embed their price (a seeded recurring one) and carry the billing period.
    const item = everyOne[0]?.items.data[0];
    expect(item?.price).toMatchObject({ object: 'price', type: 'recurring' });
    expect(item?.current_period_end).toBeGreaterThan(item?.current_period_start as number);
    const [price] = (await stripe.prices.list({ limit: 1, active: true, type: 'recurring' })).data;
    expect(price).toMatchObject({ active: true, type: 'recurring' });
    const onPrice = await all(stripe.subscriptions.list({ price: price?.id as string, status: 'all' }));
    expect(onPrice.every((s) => s.items.data.some((i) => i.price.id === price?.id))).toBe(true);
  });

  it('links the catalogue: charges expand to their customer, prices to their product, payouts to their balance transaction', async () => {
    const [charge] = (await stripe.charges.list({ limit: 1, expand: ['data.customer'] })).data;
    expect(charge?.customer).toMatchObject({ object: 'customer' });
    const [price] = (await stripe.prices.list({ limit: 1, expand: ['data.product'] })).data;
    expect(price?.product).toMatchObject({ object: 'product', default_price: expect.any(String) });
    const [payout] = (await stripe.payouts.list({ limit: 1, expand: ['data.balance_transaction'] })).data;
    expect(payout?.balance_transaction).toMatchObject({ type: 'payout', source: payout?.id });
  });

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

  it('answers expandable fields as ids unless expand[] asks, then with the object; refuses what cannot be expanded', async () => {
    const [charge] = (await stripe.charges.list({ limit: 1 })).data;
    expect(typeof charge?.balance_transaction).toBe('string');
    const one = await stripe.charges.retrieve(charge?.id as string, { expand: ['balance_transaction'] });
    expect(one.balance_transaction).toMatchObject({
      object: 'balance_transaction',
      id: charge?.balance_transaction,
    });
    const listed = await stripe.charges.list({ limit: 2, expand: ['data.balance_transaction'] });
    expect(listed.data.every((c) => typeof c.balance_transaction === 'object')).toBe(true);
    await expect(stripe.charges.retrieve(charge?.id as string, { expand: ['amount'] })).rejects.toMatchObject(
      {
        type: 'StripeInvalidRequestError',
        param: 'expand',
      },
    );
    await expect(stripe.charges.list({ expand: ['balance_transaction'] })).rejects.toMatchObject({
      param: 'expand',
    });
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

  it('refuses a cursor naming an object deleted since, as Stripe does (400 resource_missing on starting_after)', async () => {
    const made = [1, 2, 3].map(
      () => sandbox.sandbox.createActivity(OTHER, 'test', 'customer').objects[0] as string,
    );
    const other = stripeFor(sandbox, (await connectAccount(sandbox, OTHER)).access_token);
    const [, middle, newest] = made as [string, string, string];
    sandbox.sandbox.createActivity(OTHER, 'test', 'customer_deleted', { target: middle });
    for (const cursor of [{ starting_after: middle }, { ending_before: middle }]) {
      await expect(other.customers.list({ limit: 1, ...cursor })).rejects.toMatchObject({
        statusCode: 400,
        code: 'resource_missing',
        param: Object.keys(cursor)[0],
      });
    }
    // A live neighbour is a cursor still, and the list leaves the deleted customer out.
    const after = await other.customers.list({ limit: 100, starting_after: newest });
    expect(after.data.map((c) => c.id)).not.toContain(middle);
    expect(after.data.map((c) => c.id)).toContain(made[0]);
  });

  it('lists events of at most 20 types, and not type and types together, as Stripe does', async () => {
    const types = Array.from({ length: 21 }, (_, i) => `charge.test_${i}`);
    await expect(stripe.events.list({ types })).rejects.toMatchObject({ statusCode: 400, param: 'types' });
    await expect(stripe.events.list({ types: types.slice(0, 20) })).resolves.toMatchObject({
      object: 'list',
    });
    await expect(
      stripe.events.list({ type: 'charge.succeeded', types: ['charge.refunded'] }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'types' });
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

  it('takes a key as Stripe does: Bearer, or HTTP Basic with the key as the user name (curl -u key:)', async () => {
    const tokens = await connectAccount(sandbox, OTHER);
    const get = (authorization: string) =>
      fetch(`${sandbox.url}/v1/charges?limit=1`, { headers: { authorization } }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { object?: string; error?: { message?: string } },
      }));
    const basic = (user: string) => `Basic ${Buffer.from(`${user}:`).toString('base64')}`;
    await expect(get(`Bearer ${tokens.access_token}`)).resolves.toMatchObject({
      status: 200,
      body: { object: 'list' },
    });
    await expect(get(basic(tokens.access_token))).resolves.toMatchObject({
      status: 200,
      body: { object: 'list' },
    });
    const wrong = await get(basic('sk_test_notarealkeyatall'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.message).not.toContain('notarealkeyatall');
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

  it('fails the Nth request with a 500 (with Stripe-Should-Retry when asked) and drops connections on request', async () => {
    sandbox.faults.push({ id: 'f2', route: 'GET /v1/refunds', kind: '500', nth: 2, seen: 0 });
    await expect(stripe.refunds.list()).resolves.toBeDefined();
    await expect(stripe.refunds.list()).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    sandbox.faults.push({
      id: 'f2b',
      route: 'GET /v1/refunds',
      kind: '500',
      nth: 1,
      shouldRetry: false,
      seen: 0,
    });
    const refused = await stripe.refunds.list().catch((e: unknown) => e);
    expect((refused as Stripe.errors.StripeError).headers?.['stripe-should-retry']).toBe('false');
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

  it('holds only the requests whose query matches, until the test lets them go', async () => {
    sandbox.requests.length = 0;
    let release = () => {};
    const until = new Promise<void>((resolve) => {
      release = resolve;
    });
    const rule = {
      id: 'f5',
      route: 'GET /v1/customers',
      query: 'email=held@example.com',
      kind: 'hold' as const,
      until,
      seen: 0,
    };
    sandbox.faults.push(rule);
    let answered = false;
    const heldList = stripe.customers.list({ email: 'held@example.com' }).then((page) => {
      answered = true;
      return page;
    });
    for (let i = 0; i < 400 && rule.seen === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    // Another query on the same route is not held.
    await stripe.customers.list({ limit: 1 });
    expect(rule.seen).toBe(1);
    expect(answered).toBe(false);
    release();
    await expect(heldList).resolves.toMatchObject({ object: 'list' });
    expect(sandbox.requests.filter((r) => r.fault === 'hold')).toHaveLength(1);
    sandbox.faults.splice(sandbox.faults.indexOf(rule), 1);
  });

  it('rate-limits an account per mode on arrival, before a slow answer, as Stripe counts', async () => {
    sandbox.requests.length = 0;
    const set = (limits: Record<string, number | null>) =>
      fetch(`${sandbox.url}/_sandbox/rate_limits`, { method: 'POST', body: JSON.stringify(limits) });
    await set({ test: 3 });
    const slow = {
      id: 'f6',
      route: 'GET /v1/refunds',
      kind: 'latency' as const,
      latencyMs: 400,
      rate: 1,
      seen: 0,
    };
    sandbox.faults.push(slow);
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          stripe.refunds.list({ limit: 1 }).then(
            () => 200,
            (error: { statusCode?: number }) => error.statusCode,
          ),
        ),
      );
      // Ten at once reach at most two of Stripe's seconds: three pass in each, the rest get 429.
      expect(answers.filter((status) => status === 429).length).toBeGreaterThanOrEqual(4);
      const passed = sandbox.requests.filter((r) => r.route === 'GET /v1/refunds' && r.status === 200);
      const perSecond = new Map<number, number>();
      for (const r of passed)
        perSecond.set(Math.floor(r.at / 1000), (perSecond.get(Math.floor(r.at / 1000)) ?? 0) + 1);
      for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(3);
      // A 429 is answered at once: it was refused before the slow work.
      expect(sandbox.requests.filter((r) => r.status === 429).every((r) => r.fault === undefined)).toBe(true);
    } finally {
      sandbox.faults.splice(sandbox.faults.indexOf(slow), 1);
      await set({ test: null });
    }
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

  it('lets a refresh token expire after a year unless a refresh renewed it', async () => {
    const tokens = await connectAccount(sandbox, ACCOUNT);
    const kept = await connectAccount(sandbox, ACCOUNT);
    sandbox.sandbox.advanceClock(200 * 86_400);
    try {
      const renewed = await oauthToken(sandbox, secret().test, {
        grant_type: 'refresh_token',
        refresh_token: kept.refresh_token,
      });
      expect(renewed.status).toBe(200);
      sandbox.sandbox.advanceClock(200 * 86_400);
      const expired = await oauthToken(sandbox, secret().test, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
      });
      expect(expired.body).toMatchObject({ error: 'invalid_grant' });
      const fresh = await oauthToken(sandbox, secret().test, {
        grant_type: 'refresh_token',
        refresh_token: renewed.body.refresh_token as string,
      });
      expect(fresh.status).toBe(200);
    } finally {
      sandbox.sandbox.advanceClock(-400 * 86_400);
    }
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

  const CB = 'http://localhost:9/cb';
  const link = (path = '/oauth/v2/chnlink_abc/authorize', query: Record<string, string> = {}) => {
    sandbox.sandbox.installLinks.set('chnlink_abc', 'test');
    const url = new URL(path, sandbox.url);
    url.searchParams.set('client_id', sandbox.sandbox.clientId);
    url.searchParams.set('redirect_uri', CB);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url;
  };
  /** One step's form, posted as it is (the tests then tamper with it). */
  const post = (fields: Record<string, string>, path = '/oauth/v2/chnlink_abc/authorize') =>
    fetch(new URL(path, sandbox.url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
  const base = () => ({ client_id: sandbox.sandbox.clientId, redirect_uri: CB, state: 'st_1' });
  /** The fields each step carries; a code-shaped value anywhere but the last redirect would be a leak. */
  const noCode = (screen: InstallScreen) => expect(screen.html).not.toMatch(/\bac_[A-Za-z0-9]{8,}/);

  it('opens on the app page, only for the app and its registered redirect URIs', async () => {
    sandbox.sandbox.redirectUris.add(CB);
    const page = await openInstallLink(link(undefined, { state: 's1' }));
    expect(page.status).toBe(200);
    expect(page.heading).toBe(APP_MANIFEST.name);
    expect(page.html).toContain('You are installing a test version of this app.');
    expect(page.html).toContain('unreviewed app installed through a direct link');
    expect(page.html).toContain('<link rel="icon" href="data:,">');
    expect([...formOf(page).buttons.keys()]).toEqual(['Continue', 'Cancel']);
    // Nothing of the later steps yet: no account to pick, no permissions, no Install app.
    expect(page.html).not.toContain(ACCOUNT);
    expect(page.html).not.toContain('Install app');
    expect(page.html).not.toContain('Read-only');
    const live = await openInstallLink(link('/oauth/v2/authorize'));
    expect(live.status).toBe(200);
    expect(live.html).not.toContain('test version');
    expect(live.heading).toBe(APP_MANIFEST.name);
    const badRedirect = await fetch(link('/oauth/v2/authorize', { redirect_uri: 'http://evil.example/cb' }), {
      redirect: 'manual',
    });
    expect(badRedirect.status).toBe(400);
    const badClient = await fetch(link('/oauth/v2/authorize', { client_id: 'ca_nope' }), {
      redirect: 'manual',
    });
    expect(badClient.status).toBe(400);
    // Not one of the app's links: refused; the live External test link shows the test version, live.
    const unknown = await fetch(link('/oauth/v2/chnlink_unknown/authorize'), { redirect: 'manual' });
    expect(unknown.status).toBe(404);
    sandbox.sandbox.installLinks.set('chnlink_livetest', 'live');
    const liveTest = await openInstallLink(link('/oauth/v2/chnlink_livetest/authorize'));
    expect(liveTest.status).toBe(200);
    expect(liveTest.html).toContain('unreviewed app installed through a direct link');
  });

  it("allows exactly the manifest's redirect URIs and those its starter adds; nothing near them", async () => {
    const local = 'http://127.0.0.1:9/v1/integrations/stripe/callback';
    const started = await startTestSandbox({ allowedRedirectUris: [local] });
    try {
      expect([...started.sandbox.redirectUris]).toEqual([...APP_MANIFEST.allowed_redirect_uris, local]);
      started.sandbox.installLinks.set('chnlink_exact', 'test');
      const open = (redirectUri: string) => {
        const url = new URL('/oauth/v2/chnlink_exact/authorize', started.url);
        url.searchParams.set('client_id', started.sandbox.clientId);
        url.searchParams.set('redirect_uri', redirectUri);
        return fetch(url, { redirect: 'manual' });
      };
      for (const allowed of [...APP_MANIFEST.allowed_redirect_uris, local]) {
        expect((await open(allowed)).status).toBe(200);
      }
      const [deployed] = APP_MANIFEST.allowed_redirect_uris as [string];
      const near = [
        `${deployed}/`,
        `${deployed}?next=/`,
        `${deployed}#x`,
        deployed.replace('https://', 'http://'),
        deployed.replace('/callback', '/callback2'),
        deployed.replace(/^https:\/\/([^/]+)/, (_, host: string) => `https://${host.toUpperCase()}`),
        deployed.replace(/^https:\/\/([^/]+)/, (_, host: string) => `https://${host}:443`),
        local.replace('127.0.0.1', 'localhost'),
        '',
      ];
      for (const uri of near) {
        const refused = await open(uri);
        expect([uri, refused.status]).toEqual([uri, 400]);
        expect(await refused.text()).toContain('Invalid redirect URI');
      }
    } finally {
      await started.close();
    }
  });

  it('app page → Select an account → what the app can access → Installation successful; the code only at Install app', async () => {
    sandbox.sandbox.redirectUris.add(CB);
    const FLOW = 'acct_1SbxFlowAccount03';
    sandbox.sandbox.addAccount({ id: FLOW, name: 'Flow & <Co>' });
    const app = await openInstallLink(link(undefined, { state: 'st_1' }));
    noCode(app);

    const select = expectScreen(await press(app, 'Continue'), 'Continue');
    expect(select.heading).toBe('Select an account');
    expect([...formOf(select).buttons.keys()]).toEqual(['Continue', 'Back', 'Cancel']);
    expect(formOf(select).radios.get('account')?.values).toEqual([...sandbox.sandbox.accounts.keys()]);
    expect(formOf(select).radios.get('account')?.values).toEqual(
      expect.arrayContaining([ACCOUNT, OTHER, FLOW]),
    );
    expect(select.html).toContain('Flow &amp; &lt;Co&gt;');
    noCode(select);
    expect(sandbox.sandbox.isInstalled(FLOW, 'test')).toBe(false);

    const permissions = expectScreen(await press(select, 'Continue', { account: FLOW }), 'Continue');
    expect(permissions.heading).toBe(`What ${APP_MANIFEST.name} can access`);
    for (const { permission: id } of APP_MANIFEST.permissions) {
      expect(permissions.html).toMatch(
        new RegExp(`<li data-permission="${id}">.*?${id}.*?<span class="read-only">Read-only</span></li>`),
      );
    }
    expect([...formOf(permissions).buttons.keys()]).toEqual(['Install app', 'Back', 'Cancel']);
    noCode(permissions);
    expect(sandbox.sandbox.isInstalled(FLOW, 'test')).toBe(false);

    // Back keeps the choice.
    const again = expectScreen(await press(permissions, 'Back'), 'Back');
    expect(again.heading).toBe('Select an account');
    expect(formOf(again).radios.get('account')?.checked).toBe(FLOW);
    expect(expectScreen(await press(again, 'Back'), 'Back').heading).toBe(APP_MANIFEST.name);

    const installed = expectScreen(await press(permissions, 'Install app'), 'Install app');
    expect(installed.heading).toBe('Installation successful');
    expect(installed.html).toContain(`${APP_MANIFEST.name} was installed on Flow &amp; &lt;Co&gt;`);
    expect(installed.html).not.toContain('<form');
    expect(sandbox.sandbox.isInstalled(FLOW, 'test')).toBe(true);
    const back = confirmationTarget(installed);
    expect(back.origin + back.pathname).toBe(CB);
    expect(back.searchParams.get('state')).toBe('st_1');
    const code = back.searchParams.get('code') as string;
    registerSecret(code);
    expect(code).toMatch(/^ac_/);
    const exchanged = await oauthToken(sandbox, secret().test, { grant_type: 'authorization_code', code });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.stripe_user_id).toBe(FLOW);
  });

  it('a live link installs in live mode', async () => {
    sandbox.sandbox.redirectUris.add(CB);
    const app = await openInstallLink(link('/oauth/v2/authorize'));
    const select = expectScreen(await press(app, 'Continue'), 'Continue');
    const permissions = expectScreen(await press(select, 'Continue', { account: OTHER }), 'Continue');
    const installed = expectScreen(await press(permissions, 'Install app'), 'Install app');
    const code = confirmationTarget(installed).searchParams.get('code') as string;
    registerSecret(code);
    expect(sandbox.sandbox.isInstalled(OTHER, 'live')).toBe(true);
    expect(
      (await oauthToken(sandbox, secret().live, { grant_type: 'authorization_code', code })).body.livemode,
    ).toBe(true);
  });

  it.each(['app', 'account', 'permissions'])(
    'Cancel on the %s step redirects with access_denied, without the state (as Stripe may), and installs nothing',
    async (step) => {
      sandbox.sandbox.redirectUris.add(CB);
      const id = `acct_1SbxCancel${step.padEnd(11, 'x')}`;
      sandbox.sandbox.addAccount({ id, name: `Cancel at ${step}` });
      let screen = await openInstallLink(link(undefined, { state: 'st_1' }));
      if (step !== 'app') screen = expectScreen(await press(screen, 'Continue'), 'Continue');
      if (step === 'permissions') screen = expectScreen(await press(screen, 'Continue', { account: id }), '');
      const cancelled = await press(screen, 'Cancel', { account: id });
      if (!('redirect' in cancelled)) throw new Error('Cancel did not redirect');
      expect(cancelled.status).toBe(302);
      expect(cancelled.redirect.origin + cancelled.redirect.pathname).toBe(CB);
      expect(cancelled.redirect.searchParams.get('error')).toBe('access_denied');
      expect(cancelled.redirect.searchParams.get('error_description')).toBeTruthy();
      expect(cancelled.redirect.searchParams.has('state')).toBe(false);
      expect(cancelled.redirect.searchParams.has('code')).toBe(false);
      expect(sandbox.sandbox.isInstalled(id, 'test')).toBe(false);
    },
  );

  it('checks every step again: client_id, redirect_uri, the step and the account', async () => {
    sandbox.sandbox.redirectUris.add(CB);
    const install = { ...base(), step: 'permissions', action: 'install', account: OTHER };
    const cases: Array<[Record<string, string>, number, string]> = [
      [{ ...install, client_id: 'ca_other' }, 400, 'Unknown app'],
      [{ ...install, redirect_uri: 'http://evil.example/cb' }, 400, 'Invalid redirect URI'],
      [
        { ...base(), step: 'account', action: 'cancel', redirect_uri: 'http://evil.example/cb' },
        400,
        'Invalid redirect URI',
      ],
      [{ ...install, account: 'acct_1SbxNoSuchAccnt' }, 400, 'Unknown account'],
      [{ ...install, account: '' }, 400, 'Unknown account'],
      [{ ...base(), step: 'account', action: 'continue', account: 'acct_nope' }, 400, 'Unknown account'],
      [{ ...base(), step: 'account', action: 'continue' }, 400, 'Select an account'],
      [{ ...install, step: 'done' }, 400, 'Invalid request'],
      [{ ...install, step: '' }, 400, 'Invalid request'],
      [{ ...install, step: 'account' }, 400, 'Invalid request'],
      [{ ...install, step: 'app' }, 400, 'Invalid request'],
      [{ ...install, action: 'approve' }, 400, 'Invalid request'],
      [
        { client_id: sandbox.sandbox.clientId, redirect_uri: CB, account: OTHER, decision: 'install' },
        400,
        '',
      ],
    ];
    for (const [fields, status, words] of cases) {
      const response = await post(fields);
      expect([JSON.stringify(fields), response.status]).toEqual([JSON.stringify(fields), status]);
      expect(response.headers.get('location')).toBeNull();
      const page = await response.text();
      expect(page).toContain(words);
      expect(page).not.toMatch(/\bac_[A-Za-z0-9]{8,}/);
    }
    const put = await fetch(link(), { method: 'PUT', redirect: 'manual' });
    expect(put.status).toBe(405);
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

  it('test-mode events reach the live endpoint too, each endpoint signing with its own secret; live events only the live one', async () => {
    const received: Array<{ path: string; body: string; signature: string }> = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', body, signature: String(req.headers['stripe-signature']) });
        res.end();
      });
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const base = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
    const test = sandbox.sandbox.addEndpoint(`${base}/test`, 'test', undefined, { ownSecret: true });
    const live = sandbox.sandbox.addEndpoint(`${base}/live`, 'live', undefined, { ownSecret: true });
    try {
      expect(test.secrets?.[0]).not.toBe(live.secrets?.[0]);
      const { events } = sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
      await sandbox.sandbox.webhooksIdle();
      for (const [endpoint, path] of [
        [test, '/test'],
        [live, '/live'],
      ] as const) {
        const mine = received.filter((r) => r.path === path);
        expect(mine.map((r) => JSON.parse(r.body).id)).toEqual(events);
        const secret = endpoint.secrets?.[0] as string;
        for (const r of mine)
          expect(() => stripe.webhooks.constructEvent(r.body, r.signature, secret)).not.toThrow();
        const other = (endpoint === test ? live : test).secrets?.[0] as string;
        expect(() =>
          stripe.webhooks.constructEvent(mine[0]?.body ?? '', mine[0]?.signature ?? '', other),
        ).toThrow();
      }
      received.length = 0;
      const liveActivity = sandbox.sandbox.createActivity(OTHER, 'live', 'charge');
      await sandbox.sandbox.webhooksIdle();
      expect(received.map((r) => r.path)).toEqual(liveActivity.events.map(() => '/live'));
    } finally {
      sandbox.sandbox.removeEndpoint(test.id);
      sandbox.sandbox.removeEndpoint(live.id);
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

  it('an event past the 30 days is gone as a cursor too: 400 resource_missing on its parameter, not a page from the oldest kept', async () => {
    const { events } = sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
    const old = events[0] as string;
    sandbox.sandbox.advanceClock(31 * 86_400);
    try {
      sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
      const later = stripeFor(sandbox, (await connectAccount(sandbox, ACCOUNT)).access_token);
      for (const param of ['ending_before', 'starting_after'] as const) {
        await expect(later.events.list({ limit: 10, [param]: old })).rejects.toMatchObject({
          statusCode: 400,
          code: 'resource_missing',
          param,
        });
      }
    } finally {
      sandbox.sandbox.advanceClock(-31 * 86_400);
    }
  });

  it('a redirect is a failed delivery, retried, never followed', async () => {
    const hits: string[] = [];
    const hook = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/moved') {
        res.writeHead(301, { location: '/hook' });
        res.end();
        return;
      }
      req.resume();
      res.end();
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const endpoint = sandbox.sandbox.addEndpoint(
      `http://127.0.0.1:${(hook.address() as AddressInfo).port}/moved`,
      'test',
    );
    try {
      const { events } = sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
      await sandbox.sandbox.webhooksIdle();
      expect(hits).not.toContain('/hook');
      const mine = sandbox.sandbox.deliveries.filter(
        (d) => d.endpointId === endpoint.id && d.eventId === events[0],
      );
      expect(mine.length).toBeGreaterThan(1);
      expect(mine.every((d) => d.status === 301)).toBe(true);
    } finally {
      sandbox.sandbox.removeEndpoint(endpoint.id);
      hook.close();
    }
  });
});
