import type { LocalStack } from '../../local/stack.js';
import { OLD_API_VERSION } from '../../local/stripe-sandbox/api-versions.js';
import { refOf } from '../../shared/domain/connection.js';
import type { RecordScope } from '../../shared/ports/records-store.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { onlyConnection } from '../support/connections.js';
import { api, connectOrg, settle, startTestStack, type TestClock, tokenFor } from '../support/local-stack.js';
import { connectNewAccount, expectConverged, sandboxObjects } from '../support/sync.js';

/**
 * Customers, products, prices, coupons and payouts: each backfilled, kept up to date by its
 * events (the incremental pass) and by webhooks alone, with what Stripe deletes marked deleted.
 */
jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
const plenty = () => 15 * 60_000;
const COUNTS = {
  balance_transactions: 60,
  charges: 30,
  refunds: 5,
  invoices: 8,
  credit_notes: 2,
  disputes: 2,
  customers: 12,
  products: 3,
  prices: 7,
  coupons: 3,
};

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25' },
    { sync: { retry: { maxAttempts: 6, baseDelayMs: 10, maxDelayMs: 100 }, deferSeconds: 1 } },
  );
});
afterAll(() => stack.close());
afterEach(() => {
  stack.queues.webhooks.resume();
  stack.queues.sync.resume();
});

/** A new account, connected and backfilled (its initial sync run to the end). */
async function connectedAccount(spec: { apiVersion?: string } = {}) {
  const connected = await connectNewAccount(stack, 'CatalogTest', COUNTS, spec);
  await expect(runSync(stack.syncDeps, connected.job, plenty)).resolves.toMatchObject({
    outcome: 'completed',
  });
  stack.queues.sync.resume();
  return connected;
}

/** One of each kind of change, returning the ids it touched. */
function changeEverything(accountId: string) {
  const sandbox = stack.sandbox.sandbox;
  const made = (kind: Parameters<typeof sandbox.createActivity>[2]) =>
    sandbox.createActivity(accountId, 'test', kind).objects;
  // Deletions first: they take the newest seeded customer and coupon.
  const [deletedCustomer] = made('customer_deleted');
  const [deletedCoupon] = made('coupon_deleted');
  const [customer] = made('customer');
  const [product, productPrice] = made('product');
  const [archivedPrice] = made('price_archived');
  const [coupon] = made('coupon');
  const [payout, payoutBt] = made('payout');
  const [canceledSubscription] = made('subscription_canceled');
  const [subscription] = made('subscription');
  const [paidInvoice, paidBy, , invoicePayment] = made('invoice_paid');
  const [schedule] = made('subscription_scheduled');
  const [released] = made('schedule_released');
  const [kept] = made('subscription_scheduled');
  // The new subscription's price archived, later: every subscription of it shows so, with no event
  // of its own. (In the second of the subscription's own events, a read of it would lose the tie.)
  const subscribed = sandboxObjects(stack, accountId, 'subscriptions').get(subscription as string) as {
    items: { data: Array<{ price: { id: string } }> };
  };
  const usedPrice = subscribed.items.data[0]?.price.id as string;
  sandbox.advanceClock(2);
  sandbox.createActivity(accountId, 'test', 'price_archived', { target: usedPrice });
  return {
    usedPrice,
    schedule,
    released,
    kept,
    paidInvoice,
    paidBy,
    invoicePayment,
    subscription,
    canceledSubscription,
    customer,
    deletedCustomer,
    product,
    productPrice,
    archivedPrice,
    coupon,
    deletedCoupon,
    payout,
    payoutBt,
  };
}

async function expectChanges(scope: RecordScope, ids: ReturnType<typeof changeEverything>) {
  const get = (resource: Parameters<typeof stack.records.get>[1], id: string | undefined) =>
    stack.records.get(scope, resource, id as string);
  expect(await get('customers', ids.customer)).toMatchObject({ deleted: false });
  // Deleted in Stripe: gone from its lists, kept here and marked.
  expect(await get('customers', ids.deletedCustomer)).toMatchObject({ deleted: true });
  expect(await get('coupons', ids.deletedCoupon)).toMatchObject({ deleted: true });
  expect(await get('coupons', ids.coupon)).toMatchObject({ deleted: false });
  expect((await get('products', ids.product))?.object).toMatchObject({ default_price: ids.productPrice });
  expect((await get('prices', ids.productPrice))?.object).toMatchObject({ product: ids.product });
  expect((await get('prices', ids.archivedPrice))?.object).toMatchObject({ active: false });
  // Canceled is not deleted: Stripe's customer.subscription.deleted leaves the subscription, canceled.
  expect(await get('subscriptions', ids.canceledSubscription)).toMatchObject({
    deleted: false,
    object: { status: 'canceled' },
  });
  expect(await get('subscriptions', ids.subscription)).toMatchObject({
    deleted: false,
    object: { status: 'active', items: { data: [{ price: { id: ids.usedPrice, active: false } }] } },
  });
  expect(ids.released).toBe(ids.schedule);
  expect(await get('subscription_schedules', ids.released)).toMatchObject({
    deleted: false,
    object: { status: 'released', subscription: null },
  });
  expect(await get('subscription_schedules', ids.kept)).toMatchObject({
    deleted: false,
    object: { status: 'active', phases: [{}, {}] },
  });
  // The invoice's payment names the invoice and the charge that paid it.
  expect(await get('invoice_payments', ids.invoicePayment)).toMatchObject({
    deleted: false,
    object: { invoice: ids.paidInvoice, status: 'paid', payment: { type: 'charge', charge: ids.paidBy } },
  });
  expect((await get('payouts', ids.payout))?.object).toMatchObject({
    status: 'paid',
    balance_transaction: ids.payoutBt,
  });
}

describe('customers, products, prices, coupons, payouts and subscriptions', () => {
  it('are backfilled: every object Stripe lists, field for field, and the counts', async () => {
    const { accountId, orgId } = await connectedAccount();
    const report = await expectConverged(stack, orgId, accountId, { compareObjects: true });
    const connection = await onlyConnection(stack.store, orgId);
    for (const resource of [
      'customers',
      'products',
      'prices',
      'coupons',
      'payouts',
      'subscriptions',
      'invoice_payments',
      'subscription_schedules',
    ] as const) {
      const expected = sandboxObjects(stack, accountId, resource).size;
      expect([resource, report.resources[resource].stored]).toEqual([resource, expected]);
      expect([resource, connection?.sync.counts[resource]]).toEqual([resource, expected]);
    }
    expect(sandboxObjects(stack, accountId, 'payouts').size).toBeGreaterThan(0);
    expect(sandboxObjects(stack, accountId, 'invoice_payments').size).toBe(COUNTS.invoices);
  });

  it('follow every change by their events alone (no webhooks): new, updated, archived, deleted', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    stack.queues.webhooks.pause();
    const ids = changeEverything(accountId);
    await stack.sandbox.sandbox.webhooksIdle(30_000);
    stack.queues.webhooks.purge();
    stack.queues.webhooks.resume();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await expectChanges(scope, ids);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('follow every change by webhooks, and a later sync changes nothing', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const ids = changeEverything(accountId);
    // A payout created and paid in one second: Stripe's timestamps cannot order its two events,
    // so the webhook that meets the tie asks for the sync that reads them in order.
    await settle(stack, ['webhooks', 'sync']);
    await expectChanges(scope, ids);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('a coupon applied, then its customer deleted: the discounted line, the redemption Stripe counts with no event, the subscription and schedule the deletion cancels', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const get = (resource: Parameters<typeof stack.records.get>[1], id: string | undefined) =>
      stack.records.get(scope, resource, id as string);
    const [customer] = sandbox.createActivity(accountId, 'test', 'customer').objects;
    const [coupon, subscription, invoice] = sandbox.createActivity(
      accountId,
      'test',
      'coupon_applied',
    ).objects;
    const [schedule] = sandbox.createActivity(accountId, 'test', 'subscription_scheduled').objects;
    await settle(stack, ['webhooks', 'sync']);
    const redeemed = sandboxObjects(stack, accountId, 'coupons').get(coupon as string) as {
      times_redeemed: number;
    };
    expect(redeemed.times_redeemed).toBeGreaterThan(0);
    // No event says a coupon was redeemed: the next run's pass lists the coupons again.
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect((await get('coupons', coupon))?.object).toMatchObject({ times_redeemed: redeemed.times_redeemed });
    const stored = (await get('subscriptions', subscription))?.object as unknown as {
      customer: string;
      discounts: string[];
    };
    expect(stored.customer).toBe(customer);
    expect(stored.discounts).toHaveLength(1);
    const [discount] = stored.discounts;
    const line = (await get('invoices', invoice))?.object as unknown as {
      lines: {
        data: Array<{
          id: string;
          amount: number;
          discount_amounts: Array<{ amount: number; discount: string }>;
        }>;
      };
      total: number;
      total_discount_amounts: Array<{ amount: number; discount: string }>;
    };
    const [billed] = line.lines.data;
    expect(billed?.discount_amounts).toEqual([{ amount: expect.any(Number), discount }]);
    expect(billed?.discount_amounts[0]?.amount).toBeGreaterThan(0);
    expect(line.total).toBe((billed?.amount ?? 0) - (billed?.discount_amounts[0]?.amount ?? 0));
    expect(line.total_discount_amounts).toEqual(billed?.discount_amounts);
    expect(await get('invoice_line_items', billed?.id)).toMatchObject({
      deleted: false,
      object: { discount_amounts: billed?.discount_amounts },
    });

    // Stripe cancels a deleted customer's subscriptions at once, and a canceled subscription's schedule.
    const deletion = sandbox.createActivity(accountId, 'test', 'customer_deleted').objects;
    expect(deletion).toEqual([customer, subscription, schedule]);
    await settle(stack, ['webhooks', 'sync']);
    expect(await get('customers', customer)).toMatchObject({ deleted: true });
    expect(await get('subscriptions', subscription)).toMatchObject({
      deleted: false,
      object: { status: 'canceled', discounts: [discount] },
    });
    expect(await get('subscription_schedules', schedule)).toMatchObject({
      deleted: false,
      object: { status: 'canceled' },
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('an invoice payment Stripe opens and cancels with no event of its own: the next sync reads it open, then canceled once its invoice is voided', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    // Only this test's syncs run (a webhook may ask for one).
    stack.queues.sync.pause();
    const get = (resource: Parameters<typeof stack.records.get>[1], id: string) =>
      stack.records.get(scope, resource, id);
    const sync = async () =>
      expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
        outcome: 'completed',
      });
    // A seeded invoice still open, and its payment, stored open by the backfill.
    const seededOpen = [...sandboxObjects(stack, accountId, 'invoice_payments').values()].filter(
      (p) => p.status === 'open',
    );
    expect(seededOpen.length).toBeGreaterThan(0);

    const [invoice, payment] = sandbox.createActivity(accountId, 'test', 'invoice_open').objects as [
      string,
      string,
    ];
    await settle(stack, ['webhooks']);
    // The invoice's own events came (created and finalized in one second: a sync orders them);
    // nothing announced its payment.
    expect(await get('invoices', invoice)).toMatchObject({ deleted: false });
    expect(await stack.records.get(scope, 'invoice_payments', payment)).toBeUndefined();
    await sync();
    expect(await get('invoices', invoice)).toMatchObject({ object: { status: 'open' } });
    expect(await get('invoice_payments', payment)).toMatchObject({
      deleted: false,
      object: { invoice, status: 'open', status_transitions: { canceled_at: null } },
    });

    // Voided: the payment is canceled silently; `invoice.voided` is what says so.
    expect(sandbox.createActivity(accountId, 'test', 'invoice_voided').objects).toEqual([invoice, payment]);
    // And a seeded one, stored open since the backfill.
    const [oldInvoice, oldPayment] = sandbox.createActivity(accountId, 'test', 'invoice_voided').objects as [
      string,
      string,
    ];
    expect(seededOpen.map((p) => p.id)).toContain(oldPayment);
    await settle(stack, ['webhooks']);
    expect(await get('invoice_payments', payment)).toMatchObject({ object: { status: 'open' } });
    await sync();
    for (const [holder, id] of [
      [invoice, payment],
      [oldInvoice, oldPayment],
    ]) {
      expect(await get('invoices', holder as string)).toMatchObject({ object: { status: 'void' } });
      expect(await get('invoice_payments', id as string)).toMatchObject({
        deleted: false,
        object: { status: 'canceled', status_transitions: { canceled_at: expect.any(Number) } },
      });
    }

    // Marked paid outside Stripe: `invoice.paid` names no payment, and the payment (open at the
    // last pass) is canceled silently. The pass sees it is no longer open and reads it again.
    const [outside, outsidePayment] = sandbox.createActivity(accountId, 'test', 'invoice_open').objects as [
      string,
      string,
    ];
    await sync();
    expect(await get('invoice_payments', outsidePayment)).toMatchObject({ object: { status: 'open' } });
    expect(sandbox.createActivity(accountId, 'test', 'invoice_paid_out_of_band').objects).toEqual([
      outside,
      outsidePayment,
    ]);
    await settle(stack, ['webhooks']);
    await sync();
    expect(await get('invoices', outside)).toMatchObject({
      object: { status: 'paid', paid_out_of_band: true },
    });
    expect(await get('invoice_payments', outsidePayment)).toMatchObject({ object: { status: 'canceled' } });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('discounts, which Stripe cannot list: the backfill takes them from the subscriptions that carry them, events bring new ones and removals', async () => {
    let before: string[] = [];
    let onCustomer: string[] = [];
    const connected = await connectNewAccount(stack, 'DiscountTest', COUNTS, {}, (accountId) => {
      before = stack.sandbox.sandbox.createActivity(accountId, 'test', 'coupon_applied').objects;
      // And one on a customer as a whole, which the customer embeds.
      onCustomer = stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_discount').objects;
    });
    const [discountedCustomer, customerDiscount] = onCustomer as [string, string];
    const [coupon, subscription] = before as [string, string];
    // The discount is the last thing the activity names.
    const discount = before[before.length - 1] as string;
    const { accountId, orgId, job, scope } = connected;
    const get = (resource: Parameters<typeof stack.records.get>[1], id: string) =>
      stack.records.get(scope, resource, id);
    const since = stack.sandbox.sandbox.nowMs(); // on the sandbox clock, which tests move on
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    expect(await get('discounts', discount)).toMatchObject({
      deleted: false,
      object: { id: discount, object: 'discount', subscription, source: { coupon } },
    });
    expect(await get('discounts', customerDiscount)).toMatchObject({
      deleted: false,
      object: { customer: discountedCustomer, subscription: null, source: { coupon: expect.any(String) } },
    });
    expect((await get('customers', discountedCustomer))?.object).toMatchObject({
      discount: { id: customerDiscount },
    });
    // The subscription is stored as Stripe shows it: its discounts are ids.
    expect((await get('subscriptions', subscription))?.object).toMatchObject({ discounts: [discount] });
    const lists = stack.sandbox.requests.filter(
      (r) => r.account === accountId && r.at >= since && r.route === 'GET /v1/subscriptions',
    );
    expect(lists.length).toBeGreaterThan(0);
    for (const r of lists) expect(r.query).toMatch(/(^|&)expand\[\d*\]=data\.discounts(&|$)/);

    // After the connection: a new one by its event, then both removed.
    stack.queues.sync.resume();
    const added = stack.sandbox.sandbox.createActivity(accountId, 'test', 'coupon_applied').objects.at(-1);
    await settle(stack, ['webhooks', 'sync']);
    expect(await get('discounts', added as string)).toMatchObject({ deleted: false });
    const removed = stack.sandbox.sandbox.createActivity(accountId, 'test', 'discount_removed').objects;
    expect(removed).toContain(added);
    await settle(stack, ['webhooks', 'sync']);
    expect(await get('discounts', added as string)).toMatchObject({ deleted: true });
    expect(await get('discounts', discount)).toMatchObject({ deleted: false });
    expect(stack.sandbox.sandbox.createActivity(accountId, 'test', 'discount_removed').objects).toContain(
      discount,
    );
    await settle(stack, ['webhooks', 'sync']);
    expect(await get('discounts', discount)).toMatchObject({ deleted: true });
    expect((await get('subscriptions', subscription))?.object).toMatchObject({ discounts: [] });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it.each([
    ['customers and subscriptions (no test clocks, no discounts)', 'carried', ['customers', 'subscriptions']],
    ['charges (a dispute’s charge not read again)', 'touched', ['charges']],
  ] as const)('%s backfilled by older code are backfilled again, once', async (_what, flag, resources) => {
    const { accountId, job } = await connectedAccount();
    const ref = refOf(job);
    for (const resource of resources) {
      const checkpoint = await stack.syncDeps.checkpoints.get(ref, resource);
      expect(checkpoint).toMatchObject({ phase: 'incremental', [flag]: true });
      const older = { ...(checkpoint as NonNullable<typeof checkpoint>) };
      delete older[flag];
      await stack.syncDeps.checkpoints.put(older);
    }
    const routes = resources.map((resource) => `GET /v1/${resource}`);
    const listed = async () => {
      const since = stack.sandbox.sandbox.nowMs();
      await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
        outcome: 'completed',
      });
      return stack.sandbox.requests
        .filter((r) => r.account === accountId && r.at >= since && routes.includes(r.route))
        .map((r) => r.route);
    };
    expect(new Set(await listed())).toEqual(new Set(routes));
    for (const resource of resources)
      expect(await stack.syncDeps.checkpoints.get(ref, resource)).toMatchObject({ [flag]: true });
    expect(await listed()).toEqual([]);
  });

  it('a backfill reads the customers and subscriptions on test clocks, which the default lists leave out', async () => {
    const sandbox = stack.sandbox.sandbox;
    let made: string[] = [];
    const connected = await connectNewAccount(stack, 'ClockTest', COUNTS, {}, (accountId) => {
      const act = (kind: 'test_clock_customer' | 'test_clock_subscription') =>
        sandbox.createActivity(accountId, 'test', kind).objects;
      // Two clocks: one with a customer alone, one whose customer subscribes.
      const [alone] = act('test_clock_customer');
      const [customer, subscription] = act('test_clock_subscription');
      made = [alone, customer, subscription] as string[];
    });
    const [alone, customer, subscription] = made as [string, string, string];
    const { accountId, scope } = connected;
    const data = sandbox.accountData(accountId, 'test');
    expect(data?.testClocks.size).toBe(2);
    expect(sandboxObjects(stack, accountId, 'subscriptions').get(subscription)).toMatchObject({
      customer,
      test_clock: expect.stringMatching(/^clock_/),
    });
    const since = stack.sandbox.sandbox.nowMs();
    await expect(runSync(stack.syncDeps, connected.job, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    for (const [resource, id] of [
      ['customers', alone],
      ['customers', customer],
      ['subscriptions', subscription],
    ] as const)
      expect(await stack.records.get(scope, resource, id)).toMatchObject({ deleted: false, object: { id } });
    // One list of the clocks, then each clock's customers and subscriptions once.
    const asked = stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since);
    expect(asked.filter((r) => r.route === 'GET /v1/test_helpers/test_clocks')).toHaveLength(1);
    const byClock = asked.filter((r) => new URLSearchParams(r.query).has('test_clock'));
    expect(byClock.map((r) => r.route).sort()).toEqual([
      'GET /v1/customers',
      'GET /v1/customers',
      'GET /v1/subscriptions',
      'GET /v1/subscriptions',
    ]);
    await expectConverged(stack, connected.orgId, accountId, { compareObjects: true });
  });

  it('test clocks: a clock deleted while its slice waits ends that slice; a refused clock list leaves the clocks out, and customers and subscriptions still sync', async () => {
    const sandbox = stack.sandbox.sandbox;
    const made: Record<string, string> = {};
    const connected = await connectNewAccount(stack, 'ClockGone', COUNTS, {}, (accountId) => {
      made.customer = sandbox.createActivity(accountId, 'test', 'test_clock_customer').objects[0] as string;
    });
    const { accountId, orgId, job, scope } = connected;
    const clock = sandboxObjects(stack, accountId, 'customers').get(made.customer as string)
      ?.test_clock as string;
    // The first customers page stored, the run dies; the user deletes the clock meanwhile.
    // The clock's list is held until then, so its slice cannot be read (and stored) first.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    stack.sandbox.faults.push({
      id: 'hold-clock',
      route: 'GET /v1/customers',
      account: accountId,
      query: `test_clock=${clock}`,
      kind: 'hold',
      until: held,
      seen: 0,
    });
    const crash = new Error('simulated crash');
    await expect(
      runSync(
        {
          ...stack.syncDeps,
          onPageStored: (resource) => {
            if (resource !== 'customers') return;
            // Stripe deletes what was on the clock with it.
            const data = sandbox.accountData(accountId, 'test');
            data?.testClocks.remove(clock);
            data?.collections.customers.remove(made.customer as string);
            release();
            throw crash;
          },
        },
        job,
        plenty,
      ),
    ).rejects.toBe(crash);
    stack.sandbox.faults.splice(
      stack.sandbox.faults.findIndex((rule) => rule.id === 'hold-clock'),
      1,
    );
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), 'customers');
    expect(checkpoint).toMatchObject({ phase: 'incremental' });
    // The clock's list answers 404 now, as Stripe does for a clock that is gone.
    const asked = stack.sandbox.requests.filter(
      (r) =>
        r.account === accountId && r.route === 'GET /v1/customers' && r.query.includes(`test_clock=${clock}`),
    );
    expect(asked.map((r) => r.status)).toContain(404);
    expect(await stack.records.get(scope, 'customers', made.customer as string)).toBeUndefined();
    await expectConverged(stack, orgId, accountId, { compareObjects: true });

    // Another account whose clock list Stripe refuses: its customers and subscriptions still sync.
    const refused = await connectNewAccount(stack, 'ClockNo', COUNTS, {}, (id) => {
      sandbox.createActivity(id, 'test', 'test_clock_customer');
    });
    stack.sandbox.faults.push({
      id: 'no-clocks',
      route: 'GET /v1/test_helpers/test_clocks',
      account: refused.accountId,
      kind: '403',
      seen: 0,
    });
    await expect(runSync(stack.syncDeps, refused.job, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    stack.sandbox.faults.length = 0;
    const counts = (await stack.records.counts(refused.scope)) ?? {};
    expect(counts.customers).toBe(sandboxObjects(stack, refused.accountId, 'customers').size - 1);
    expect(counts.subscriptions).toBe(sandboxObjects(stack, refused.accountId, 'subscriptions').size);
  });

  it('a customer on a test clock: its events bring it, and a full re-sync (which lists it by its clock) keeps it', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const [clocked] = sandbox.createActivity(accountId, 'test', 'test_clock_customer').objects;
    await settle(stack, ['webhooks', 'sync']);
    expect(await stack.records.get(scope, 'customers', clocked as string)).toMatchObject({
      deleted: false,
      object: { test_clock: expect.stringMatching(/^clock_/) },
    });
    const admin = await tokenFor(stack, orgId);
    const asked = await api(stack, 'POST', '/v1/integrations/stripe/sync', {
      token: admin,
      body: { mode: 'full', resources: ['customers'] },
    });
    expect(asked.status).toBe(202);
    await settle(stack, ['sync']);
    const connection = await onlyConnection(stack.store, orgId);
    expect(connection?.fullSync).toMatchObject({ state: 'done', deleted: 0 });
    expect(await stack.records.get(scope, 'customers', clocked as string)).toMatchObject({ deleted: false });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('what Stripe deleted while the account was disconnected is marked deleted once it reconnects', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const admin = await tokenFor(stack, orgId);
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token: admin })).status).toBe(204);
    // Nothing listens now: the webhooks are dropped, and no event pass will read these.
    const [customer] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_deleted').objects;
    const [coupon] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'coupon_deleted').objects;
    await settle(stack, ['webhooks']);
    expect(await stack.records.get(scope, 'customers', customer as string)).toMatchObject({ deleted: false });
    // Their events fall before the reconnect's snapshot, so only the sweep can find them (an
    // event in the snapshot's own second would be read by the event pass instead).
    stack.sandbox.sandbox.advanceClock(5);
    // The reconnect's first run reads everything again as a full pass and marks the unseen.
    await connectOrg(stack, orgId, { account: accountId });
    await settle(stack, ['webhooks', 'sync']);
    expect(await stack.records.get(scope, 'customers', customer as string)).toMatchObject({ deleted: true });
    expect(await stack.records.get(scope, 'coupons', coupon as string)).toMatchObject({ deleted: true });
    const connection = await onlyConnection(stack.store, orgId);
    expect(connection?.fullSync).toMatchObject({ state: 'done', added: 0, deleted: 2 });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('an account on an older API version: the event pass reads objects again, and a deleted customer’s answer is not stored as one', async () => {
    // Its events render at its own version: the pass retrieves each at the pinned one, and a
    // customer deleted since answers `{ deleted: true }` (Stripe keeps deleted customers).
    const { accountId, orgId, job, scope } = await connectedAccount({ apiVersion: OLD_API_VERSION });
    stack.queues.webhooks.pause();
    const [customer] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer').objects;
    const [deleted] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_deleted').objects;
    expect(deleted).toBe(customer);
    // The pass reads it seconds after its deletion: a stub stored then would outrank the event.
    stack.sandbox.sandbox.advanceClock(5);
    const [subscription] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'subscription').objects;
    await stack.sandbox.sandbox.webhooksIdle(30_000);
    stack.queues.webhooks.purge();
    stack.queues.webhooks.resume();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect(await stack.records.get(scope, 'customers', customer as string)).toMatchObject({
      deleted: true,
      object: { id: customer, object: 'customer', email: expect.any(String) },
    });
    expect(await stack.records.get(scope, 'subscriptions', subscription as string)).toMatchObject({
      deleted: false,
      object: { status: 'active' },
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });
});
