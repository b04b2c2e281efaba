import type { LocalStack } from '../../local/stack.js';
import { endConnection } from '../../shared/connect/end-connection.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { EVENT_SCHEMAS } from '../../shared/events/catalog.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import { type ListedResourceName, RESOURCES } from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';
import { dispatchSyncs } from '../../shared/sync/dispatch.js';
import { runSync, type SyncDeps } from '../../shared/sync/sync-run.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { sampleConnection } from '../support/connection-store-contract.js';
import { onlyConnection, onlyRef } from '../support/connections.js';
import {
  api,
  connectOrg,
  settle,
  startTestStack,
  type TestClock,
  tokenFor,
  tokenRequests,
} from '../support/local-stack.js';
import {
  budgetPeak,
  expectConverged,
  listRequests,
  type StripeSend,
  sandboxObjects,
  slowStripe,
  waitForSync,
} from '../support/sync.js';
import { stripeEvent } from '../support/webhooks.js';
import { wrapRecords } from '../support/wrap-records.js';

jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
let pageHook: ((resource: string, pages: number) => void | Promise<void>) | undefined;
let writesAllowed = true;
let writesAfterStop = 0;
/** The org whose writes must stop (another org's sync may be running meanwhile). */
let stoppedOrg: string | undefined;
let n = 0;
/** Every request the sync's budgets let through, and when. */
const sends: StripeSend[] = [];

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25', SYNC_MIN_INTERVAL_SECONDS: '300' },
    {
      sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 } },
      wrap: {
        onPageStored: (resource, pages) => pageHook?.(resource, pages),
        onStripeRequest: (account, at) => {
          sends.push({ account, at });
        },
        records: (records: RecordsStore): RecordsStore =>
          wrapRecords(records, {
            putMany: async (r) => {
              if (!writesAllowed) writesAfterStop += r.filter((w) => w.orgId === stoppedOrg).length;
              return records.putMany(r);
            },
          }),
      },
    },
  );
});
afterAll(() => stack.close());
afterEach(() => {
  pageHook = undefined;
  writesAllowed = true;
  stack.sandbox.faults.length = 0;
  stack.queues.sync.resume();
});

/** A new sandbox account of the given size, connected to a new org, its first sync not yet run. */
async function connectedAccount(counts: Record<string, number>, options: { runFirstSync?: boolean } = {}) {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1SyncTest${suffix}000000`;
  const orgId = `org_sync_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Sync ${suffix}`, counts });
  if (!options.runFirstSync) {
    stack.queues.sync.pause();
    // Each test starts from an empty queue: an earlier test's follow-up syncs are not this one's.
    stack.queues.sync.purge();
  }
  await connectOrg(stack, orgId, { account: accountId });
  const connection = await onlyConnection(stack.store, orgId);
  if (!connection) throw new Error('not connected');
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  return { accountId, orgId, job };
}

const plenty = () => 900_000;
/**
 * The sync as configured, with no splitting of a backfill: whether a backfill
 * splits depends on how long pages take (on a loaded machine, every page is
 * slow), so a test that counts requests and is not about splitting pins it.
 * The split decision itself is tested with injected latencies (test/unit).
 */
const unsplit = (): SyncDeps => ({ ...stack.syncDeps, config: { ...stack.syncDeps.config, maxSlices: 1 } });
const SMALL = {
  balance_transactions: 430,
  charges: 370,
  refunds: 120,
  invoices: 250,
  credit_notes: 60,
  disputes: 30,
  customers: 40,
  products: 5,
  prices: 10,
  coupons: 3,
};
/** An account of one or two resources alone (its payout transactions name no payout object). */
const NOTHING_ELSE = {
  balance_transactions: 0,
  charges: 0,
  refunds: 0,
  invoices: 0,
  credit_notes: 0,
  disputes: 0,
  customers: 0,
  products: 0,
  prices: 0,
  coupons: 0,
  payouts: 0,
  subscriptions: 0,
};
/** What the sandbox seeded of a resource (payouts follow from the balance transactions). */
const seeded = (accountId: string, resource: ListedResourceName) =>
  // The sandbox seeds no discounts: coupons applied later make them.
  resource === 'discounts'
    ? 0
    : (stack.sandbox.sandbox.accountData(accountId, 'test')?.counts[resource] ?? Number.NaN);

describe('backfill', () => {
  it('converges on an account of 20,000+ objects: exactly Stripe’s objects at their latest versions', async () => {
    const counts = {
      balance_transactions: 7000,
      charges: 6000,
      refunds: 1500,
      invoices: 3500,
      credit_notes: 1200,
      disputes: 800,
    };
    const { accountId, orgId } = await connectedAccount(counts, { runFirstSync: true });
    const connection = await waitForSync(stack, orgId, 240_000);
    expect(connection.sync).toMatchObject({
      state: 'idle',
      lastError: null,
      lastSuccessAt: expect.any(String),
      counts,
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: false });
    // Objects compared field for field on a sample of each resource.
    for (const def of RESOURCES) {
      const objects = [...sandboxObjects(stack, accountId, def.name).values()].filter((_, i) => i % 97 === 0);
      for (const object of objects) {
        expect(
          (
            await stack.records.get(
              { orgId: orgId, mode: 'test', accountId: accountId },
              def.name,
              object.id as string,
            )
          )?.object,
        ).toEqual(object);
      }
    }
    // Invoices with more lines than Stripe embeds have them all.
    const long = [...sandboxObjects(stack, accountId, 'invoices').values()].find(
      (i) => (i.lines as { has_more: boolean }).has_more,
    );
    const lines = await stack.records.lines(
      { orgId: orgId, mode: 'test', accountId: accountId },
      'invoices',
      long?.id as string,
    );
    expect(lines).toHaveLength(4);
    expect(stack.bus.events.at(-1)).toMatchObject({
      'detail-type': 'Stripe Sync Completed',
      detail: { orgId, accountId, totals: counts },
    });
  });

  it('makes at most ceil(N/100) + 1 list requests per resource, and stays within the budget', async () => {
    const since = Date.now();
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const requests = listRequests(stack, accountId, since);
    for (const def of RESOURCES) {
      const made = requests.filter((r) => r.route === `GET /v1/${def.name}`).length;
      expect(made).toBeLessThanOrEqual(Math.ceil(seeded(accountId, def.name) / 100) + 1);
    }
    expect(budgetPeak(stack, sends, accountId, since)).toBeLessThanOrEqual(25);
    await expectConverged(stack, orgId, accountId);
  });

  it.each([
    ['a simulated deadline', 'deadline'],
    ['a simulated crash', 'crash'],
  ])(
    'resumes after %s every 3rd page, re-fetching at most one page per interruption',
    async (_name, kind) => {
      const since = Date.now();
      const { accountId, orgId, job } = await connectedAccount(SMALL);
      let remaining = 900_000;
      let interruptions = 0;
      let pagesStored = 0;
      pageHook = () => {
        if (++pagesStored % 3 !== 0) return;
        interruptions++;
        if (kind === 'crash') throw new Error('simulated crash');
        remaining = 0;
      };
      let outcome: string | undefined;
      for (let run = 0; run < 100 && outcome !== 'completed'; run++) {
        remaining = 900_000;
        outcome = (await runSync(unsplit(), job, () => remaining).catch(() => ({ outcome: 'crashed' })))
          .outcome;
      }
      expect(outcome).toBe('completed');
      expect(interruptions).toBeGreaterThan(3);
      const pagesNeeded = RESOURCES.reduce(
        (sum, def) => sum + Math.ceil(seeded(accountId, def.name) / 100),
        0,
      );
      // Backfill pages only: the incremental pass (ending_before, and the open invoice payments
      // it lists) is not a re-fetch.
      const listed = listRequests(stack, accountId, since).filter(
        (r) =>
          RESOURCES.some((d) => r.route === `GET /v1/${d.name}`) &&
          !r.query?.includes('ending_before') &&
          !r.query?.includes('status=open'),
      );
      expect(listed.length).toBeLessThanOrEqual(pagesNeeded + interruptions);
      await expectConverged(stack, orgId, accountId);
    },
  );

  it('resumes a backfill whose last stored object was deleted since: Stripe refuses that cursor, and the slice reads on from its second', async () => {
    const { accountId, orgId, job } = await connectedAccount({ ...NOTHING_ELSE, customers: 2_150 });
    // The run stops after its first store of customers (2,000 of them): the rest waits for the next.
    let remaining = 900_000;
    pageHook = (resource) => {
      if (resource === 'customers') remaining = 0;
    };
    await runSync(unsplit(), job, () => remaining);
    pageHook = undefined;
    const checkpoint = await stack.syncDeps.checkpoints.get(await onlyRef(stack.store, orgId), 'customers');
    const cursor = checkpoint?.slices[0]?.startingAfter as string;
    expect(checkpoint?.phase).toBe('backfill');
    expect(cursor).toMatch(/^cus_/);
    // The customer it read up to is deleted: Stripe refuses a list after it (stripe-sandbox.test.ts).
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_deleted', { target: cursor });
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, orgId, accountId);
    const scope = { orgId, mode: 'test' as const, accountId };
    expect((await stack.records.get(scope, 'customers', cursor))?.deleted).toBe(true);
  });

  it('reads an event that reached /v1/events after a later one had (the list is eventually consistent), and never applies its older payload over the newer', async () => {
    const { accountId, orgId, job } = await connectedAccount({ ...NOTHING_ELSE, charges: 20 });
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    // Webhooks would bring the refunds anyway: this is about what the sync reads.
    stack.queues.webhooks.pause();
    try {
      const sandbox = stack.sandbox.sandbox;
      const refundOf = (activity: { objects: string[] }) =>
        sandboxObjects(stack, accountId, 'refunds').get(
          activity.objects.find((id) => id.startsWith('re_')) as string,
        );
      // A refund whose events reach the list late, then a second refund of the same charge,
      // listed at once: its charge.refunded is the newer state of the charge.
      const held = sandbox.holdEvents(() => refundOf(sandbox.createActivity(accountId, 'test', 'refund')));
      const late = held.result;
      const prompt = refundOf(sandbox.createActivity(accountId, 'test', 'refund'));
      const chargeId = late?.charge as string;
      expect(prompt?.charge).toBe(chargeId);
      const scope = { orgId, mode: 'test' as const, accountId };
      await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
      // The late refund's events are not listed yet.
      expect(await stack.records.get(scope, 'refunds', late?.id as string)).toBeUndefined();
      held.release();
      await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
      expect((await stack.records.get(scope, 'refunds', late?.id as string))?.object.id).toBe(late?.id);
      // The charge as Stripe has it now (both refunds), not as the late event showed it (one).
      expect((await stack.records.get(scope, 'charges', chargeId))?.object.amount_refunded).toBe(
        sandboxObjects(stack, accountId, 'charges').get(chargeId)?.amount_refunded,
      );
      await expectConverged(stack, orgId, accountId);
    } finally {
      stack.queues.webhooks.purge();
      stack.queues.webhooks.resume();
    }
  });

  it('converges through 10% 429s, 5% 500s and random latency, never over the budget in any second', async () => {
    const { accountId, orgId, job } = await connectedAccount({
      ...SMALL,
      balance_transactions: 2500,
      charges: 1500,
    });
    const since = Date.now();
    for (const route of [
      ...RESOURCES.map((d) => `GET /v1/${d.name}`),
      'GET /v1/events',
      'GET /v1/invoices/:id/lines',
    ]) {
      stack.sandbox.faults.push(
        { id: `429-${route}`, route, account: accountId, kind: '429', rate: 0.1, seen: 0 },
        { id: `500-${route}`, route, account: accountId, kind: '500', rate: 0.05, seen: 0 },
        { id: `lat-${route}`, route, account: accountId, kind: 'latency', rate: 0.3, latencyMs: 40, seen: 0 },
      );
    }
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const faults = listRequests(stack, accountId, since).filter((r) => r.status === 429 || r.status === 500);
    expect(faults.length).toBeGreaterThan(3);
    expect(budgetPeak(stack, sends, accountId, since)).toBeLessThanOrEqual(25);
    await expectConverged(stack, orgId, accountId);
  });

  it('splits the time range into parallel slices when pages are slow, within the budget', async () => {
    const { accountId, orgId, job } = await connectedAccount({
      balance_transactions: 3000,
      charges: 0,
      refunds: 0,
      invoices: 0,
      credit_notes: 0,
      disputes: 0,
    });
    slowStripe(stack, accountId, ['GET /v1/balance_transactions']);
    const since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    // Pages in flight at once: requests that started within 300 ms of each other.
    const starts = listRequests(stack, accountId, since)
      .filter((r) => r.route === 'GET /v1/balance_transactions')
      .map((r) => r.at);
    const inFlight = Math.max(...starts.map((t) => starts.filter((u) => u >= t && u < t + 300).length));
    expect(inFlight).toBeGreaterThanOrEqual(4);
    expect(budgetPeak(stack, sends, accountId, since)).toBeLessThanOrEqual(25);
    await expectConverged(stack, orgId, accountId);
    // Pages asked for before a split reach into the new slices' ranges: each object is counted once.
    expect((await onlyConnection(stack.store, orgId))?.sync.counts.balance_transactions).toBe(3000);
  });
});

describe('backfill splits while pages are in flight', () => {
  it.each([
    [2500, 300],
    [3000, 200],
    [3000, 300],
  ])(
    'counts each of %i objects once at %i ms a page, though a page asked for before a split reaches into a new slice',
    async (size, latencyMs) => {
      const { accountId, orgId, job } = await connectedAccount({
        ...NOTHING_ELSE,
        balance_transactions: size,
      });
      slowStripe(stack, accountId, ['GET /v1/balance_transactions'], latencyMs);
      await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
        outcome: 'completed',
        counts: { balance_transactions: size },
      });
      await expectConverged(stack, orgId, accountId, { compareObjects: false });
    },
  );
});

describe('backfill when every request is slow', () => {
  it("stores objects years older than the account's connection, never bounding history by account.created", async () => {
    // Stripe's account `created` is when it connected: here two days ago, with a year of objects
    // before it. A slow backfill splits its range; the bottom slice must still reach them all.
    const suffix = String(++n).padStart(4, '0');
    const accountId = `acct_1SyncOld${suffix}0000000`;
    const orgId = `org_sync_old_${suffix}`;
    stack.sandbox.sandbox.addAccount({
      id: accountId,
      name: `Old ${suffix}`,
      connectedDaysAgo: 2,
      counts: { ...NOTHING_ELSE, balance_transactions: 2000, charges: 1500 },
    });
    stack.queues.sync.pause();
    await connectOrg(stack, orgId, { account: accountId });
    const connection = await onlyConnection(stack.store, orgId);
    if (!connection) throw new Error('not connected');
    const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
    const connectedAt = stack.sandbox.sandbox.accountObject(accountId)?.created ?? 0;
    const older = stack.sandbox.sandbox
      .accountData(accountId, 'test')
      ?.collections.balance_transactions.entries.filter((e) => e.created < connectedAt).length;
    expect(older).toBeGreaterThan(1900);
    slowStripe(stack, accountId, [
      'GET /v1/balance_transactions',
      'GET /v1/charges',
      'GET /v1/refunds',
      'GET /v1/invoices',
      'GET /v1/credit_notes',
      'GET /v1/disputes',
      'GET /v1/events',
      'GET /v1/account',
    ]);
    const since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
      outcome: 'completed',
      counts: { balance_transactions: 2000, charges: 1500 },
    });
    await expectConverged(stack, orgId, accountId);
    const requests = listRequests(stack, accountId, since);
    // The account is read once, for its name, and for nothing else.
    expect(requests.filter((r) => r.route === 'GET /v1/account')).toHaveLength(1);
    // Each slice costs at most one partial page over ceil(N/100); the oldest object is found
    // by one round of limit=1 probes, doubling back from the first page to Stripe's launch.
    const pages = requests.filter((r) => r.route === 'GET /v1/balance_transactions').length;
    expect(pages).toBeLessThanOrEqual(20 + 1 + stack.syncDeps.config.maxSlices + 4 + 14);
    expect(budgetPeak(stack, sends, accountId, since)).toBeLessThanOrEqual(25);
  });
});

describe('incremental', () => {
  it('reads pending balance transactions again until they are available, though Stripe sends no event', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await runSync(stack.syncDeps, job, plenty);
    for (let i = 0; i < 3; i++) stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await settle(stack);
    await runSync(stack.syncDeps, job, plenty);
    const statuses = async () => {
      const out: string[] = [];
      for (const [id] of await stack.records.versions(
        { orgId: orgId, mode: 'test', accountId: accountId },
        'balance_transactions',
      )) {
        const record = await stack.records.get(
          { orgId: orgId, mode: 'test', accountId: accountId },
          'balance_transactions',
          id,
        );
        out.push(String(record?.object.status));
      }
      return out;
    };
    expect((await statuses()).filter((s) => s === 'pending')).toHaveLength(3);
    await expectConverged(stack, orgId, accountId);
    // Two days on, Stripe has made the funds available, with no event to say so.
    stack.sandbox.sandbox.advanceClock(3 * 86_400);
    try {
      await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
      expect((await statuses()).filter((s) => s === 'pending')).toHaveLength(0);
      await expectConverged(stack, orgId, accountId);
      // Nothing is pending any more: the next run reads only what is new. (The sandbox's clock is
      // ahead here, so its requests are counted, not taken since a time.)
      const btRequests = () =>
        listRequests(stack, accountId).filter((r) => r.route === 'GET /v1/balance_transactions').length;
      const before = btRequests();
      await runSync(unsplit(), job, plenty);
      expect(btRequests() - before).toBe(1);
    } finally {
      stack.sandbox.sandbox.advanceClock(-3 * 86_400);
    }
  });

  it('picks up new charges, refunds and paid invoices; no change costs one request per resource', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await runSync(stack.syncDeps, job, plenty);
    let since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const quiet = listRequests(stack, accountId, since);
    // One page of events per resource, the whole list of those Stripe changes silently, and the
    // open ones of those Stripe opens silently.
    const relisted = RESOURCES.filter((def) => def.relist);
    expect(relisted.map((def) => def.name)).toEqual(['coupons']);
    const silent = RESOURCES.filter((def) => def.silent);
    expect(silent.map((def) => def.name)).toEqual(['invoice_payments']);
    expect(quiet).toHaveLength(RESOURCES.length + relisted.length + silent.length);
    expect(quiet.filter((r) => r.route === 'GET /v1/coupons')).toHaveLength(1);
    expect(quiet.filter((r) => r.route === 'GET /v1/invoice_payments').map((r) => r.query)).toEqual([
      'limit=100&status=open',
    ]);
    // Every request asks for the pinned API version, so every list renders one shape.
    expect(new Set(listRequests(stack, accountId).map((r) => r.stripeVersion))).toEqual(
      new Set([STRIPE_API_VERSION]),
    );
    for (const kind of ['charge', 'refund', 'invoice_paid', 'dispute', 'credit_note'] as const) {
      stack.sandbox.sandbox.createActivity(accountId, 'test', kind);
    }
    await settle(stack);
    since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, orgId, accountId);
    for (const def of RESOURCES) {
      const made = listRequests(stack, accountId, since).filter(
        (r) => r.route === (def.eventTypes.length ? 'GET /v1/events' : `GET /v1/${def.name}`),
      );
      expect(made.length).toBeGreaterThanOrEqual(1);
    }
    expect(listRequests(stack, accountId, since).length).toBeLessThanOrEqual(
      RESOURCES.length + relisted.length + 2,
    );
  });

  it('reads 1,000 new charges in at most 1 + ceil(1000/100) requests', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await runSync(stack.syncDeps, job, plenty);
    for (let i = 0; i < 1000; i++) stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    const since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const made = listRequests(stack, accountId, since);
    expect(made.filter((r) => r.route === 'GET /v1/balance_transactions').length).toBeLessThanOrEqual(11);
    // Ten pages of charge events, and one (empty) for each other resource read through events.
    const others = RESOURCES.filter((d) => d.eventTypes.length > 0 && d.name !== 'charges').length;
    expect(made.filter((r) => r.route === 'GET /v1/events').length).toBeLessThanOrEqual(11 + others);
    await settle(stack);
    await expectConverged(stack, orgId, accountId, { compareObjects: false });
  });

  it('applies what changed during the backfill; a resource that was empty asks for no events cursor', async () => {
    const { accountId, orgId, job } = await connectedAccount({
      ...NOTHING_ELSE,
      balance_transactions: 150,
      charges: 250,
    });
    // Only the sync writes records here: what it misses, nothing else fills in.
    stack.queues.webhooks.pause();
    const made: string[] = [];
    pageHook = (resource, pages) => {
      if (pages !== 1) return;
      // A charge created while charges are backfilled; a refund while the (empty) refunds are.
      if (resource === 'charges' || resource === 'refunds') {
        const { objects } = stack.sandbox.sandbox.createActivity(
          accountId,
          'test',
          resource === 'charges' ? 'charge' : 'refund',
        );
        made.push(...objects.filter((id) => id.startsWith(resource === 'charges' ? 'ch_' : 're_')));
      }
    };
    const since = Date.now();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    expect(made).toHaveLength(2);
    // Each reached the records store in the same run, through its resource's incremental pass.
    for (const [resource, ids] of [
      ['charges', made.filter((id) => id.startsWith('ch_'))],
      ['refunds', made.filter((id) => id.startsWith('re_'))],
    ] as const) {
      const stored = await stack.records.versions(
        { orgId: orgId, mode: 'test', accountId: accountId },
        resource,
      );
      for (const id of ids) expect([resource, id, stored.has(id)]).toEqual([resource, id, true]);
    }
    const cursorLookups = listRequests(stack, accountId, since).filter(
      (r) => r.route === 'GET /v1/events' && /(^|&)limit=1(&|$)/.test(r.query),
    );
    // Charges had objects at the snapshot; every other resource read through events had none.
    expect(cursorLookups).toHaveLength(1);
    // What changed in resources already done (the balance transactions of both, the refunded
    // charge) is read by the next run.
    pageHook = undefined;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, orgId, accountId);
    stack.queues.webhooks.resume();
  });

  it('backfills a resource again when its events cursor nears the 30-day retention', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await runSync(stack.syncDeps, job, plenty);
    const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), 'charges');
    if (!checkpoint) throw new Error('no checkpoint');
    await stack.syncDeps.checkpoints.put({
      ...checkpoint,
      cursor: null,
      since: Math.floor(Date.now() / 1000) - 29.5 * 86_400,
    });
    const since = Date.now();
    await runSync(unsplit(), job, plenty);
    const charges = listRequests(stack, accountId, since).filter((r) => r.route === 'GET /v1/charges');
    expect(charges.length).toBe(Math.ceil(SMALL.charges / 100));
    await expectConverged(stack, orgId, accountId, { compareObjects: false });
  });

  it('an events cursor Stripe no longer has (its 30 days passed by Stripe’s clock): the resource is backfilled again, nothing lost', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    const sandbox = stack.sandbox.sandbox;
    await runSync(unsplit(), job, plenty);
    const endpoints = sandbox.endpoints.splice(0); // only the sync hears of the changes
    let advanced = 0;
    const advance = (seconds: number) => {
      sandbox.advanceClock(seconds);
      advanced += seconds;
    };
    try {
      sandbox.createActivity(accountId, 'test', 'refund');
      advance(120); // settled: the cursors move onto the events
      await runSync(unsplit(), job, plenty);
      for (const resource of ['charges', 'refunds'] as const)
        expect((await stack.syncDeps.checkpoints.get(refOf(job), resource))?.cursor?.id).toMatch(/^evt_/);
      sandbox.createActivity(accountId, 'test', 'refund');
      advance(31 * 86_400); // the cursor's event and the refund's are past Stripe's 30 days
      const since = Date.now();
      await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
      const gone = listRequests(stack, accountId, since).filter(
        (r) => r.route === 'GET /v1/events' && r.status === 400,
      );
      expect(gone.length).toBeGreaterThan(0);
      await expectConverged(stack, orgId, accountId);
    } finally {
      sandbox.advanceClock(-advanced);
      sandbox.endpoints.push(...endpoints);
    }
  });
});

describe('tokens and the connection during a run', () => {
  it('reads its connection once (the lease) and guards each page with a condition, not a read', async () => {
    const { orgId, job } = await connectedAccount(SMALL);
    let reads = 0;
    let readsAtFirstPage: number | undefined;
    let pages = 0;
    // Every read of the connection item, whoever makes it (the run, its Stripe access, …).
    const hook = 'test:count-connection-reads';
    stack.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        const input = (args as { input: { Key?: { pk?: unknown; sk?: unknown } } }).input;
        if (
          context.commandName === 'GetItemCommand' &&
          input.Key?.pk === `ORG#${orgId}` &&
          input.Key.sk === 'CONNECTION#stripe'
        )
          reads++;
        return next(args);
      },
      { step: 'initialize', name: hook },
    );
    try {
      await expect(
        runSync(
          {
            ...unsplit(),
            onPageStored: () => {
              pages++;
              readsAtFirstPage ??= reads;
            },
          },
          job,
          plenty,
        ),
      ).resolves.toMatchObject({ outcome: 'completed' });
    } finally {
      stack.dynamoClient.middlewareStack.remove(hook);
    }
    // The lease's update returns the item: that is the run's one read. The guard before each
    // page's write is a condition, not a read.
    expect(readsAtFirstPage).toBe(0);
    expect(pages).toBeGreaterThan(3);
    expect(reads).toBe(0);
  });

  it('an access token expiring mid-sync: one refresh, and the sync goes on', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    const refreshes = tokenRequests(stack).length;
    let pagesStored = 0;
    pageHook = () => {
      if (++pagesStored === 2) stack.sandbox.sandbox.expireAccessTokens(accountId);
    };
    const outcome = await runSync(stack.syncDeps, job, plenty);
    expect(outcome).toMatchObject({ outcome: 'completed' });
    expect(tokenRequests(stack).length - refreshes).toBe(1);
    await expectConverged(stack, orgId, accountId);
  });

  it('requests in flight that all get a 401 share one refresh, and the connection stays connected', async () => {
    // The token dies before the first run: its first requests (the account's name beside the first
    // pages of several resources at once, at 150 ms a page) all get 401 together.
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    slowStripe(stack, accountId, ['GET /v1/account', 'GET /v1/balance_transactions', 'GET /v1/charges'], 150);
    stack.sandbox.sandbox.expireAccessTokens(accountId);
    const since = Date.now();
    const refreshes = tokenRequests(stack).length;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const unauthorized = stack.sandbox.requests.filter(
      (r) => r.account === null && r.at >= since && r.status === 401,
    );
    expect(unauthorized.length).toBeGreaterThanOrEqual(2);
    expect(tokenRequests(stack).length - refreshes).toBe(1);
    expect((await onlyConnection(stack.store, orgId))?.status).toBe('connected');
    await expectConverged(stack, orgId, accountId);
  });

  it('Stripe-Should-Retry: false on one page fails that resource alone; the next run resumes it from its checkpoint', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    stack.sandbox.faults.push({
      id: 'no-retry',
      route: 'GET /v1/balance_transactions',
      account: accountId,
      kind: '429',
      nth: 3,
      shouldRetry: false,
      seen: 0,
    });
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({
      outcome: 'partial',
      failed: ['balance_transactions'],
    });
    const failed = await onlyConnection(stack.store, orgId);
    expect(failed?.status).toBe('connected');
    expect(failed?.sync).toMatchObject({
      state: 'failed',
      lastError: { code: 'resource_failed' },
      resourceErrors: { balance_transactions: { code: 'stripe_refused' } },
    });
    // Every other resource is complete.
    for (const def of RESOURCES.filter((d) => d.name !== 'balance_transactions')) {
      const stored = await stack.records.versions(
        { orgId: orgId, mode: 'test', accountId: accountId },
        def.name,
      );
      expect([def.name, stored.size]).toEqual([def.name, seeded(accountId, def.name)]);
    }
    const status = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, orgId, 'member'),
    });
    expect(status.json.sync).toMatchObject({
      resourceErrors: { balance_transactions: { code: 'stripe_refused' } },
    });

    const since = Date.now();
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    // Resumed from the checkpoint: the two pages stored before the refusal are not read again.
    const pages = listRequests(stack, accountId, since).filter(
      (r) => r.route === 'GET /v1/balance_transactions',
    );
    expect(pages.length).toBeLessThanOrEqual(Math.ceil(SMALL.balance_transactions / 100) - 2 + 1);
    expect((await onlyConnection(stack.store, orgId))?.sync).toMatchObject({
      state: 'idle',
      resourceErrors: null,
    });
    await expectConverged(stack, orgId, accountId);
  });

  it('a resource Stripe keeps failing (500) does not stop the others; the message is retried', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    stack.sandbox.faults.push({
      id: 'down',
      route: 'GET /v1/disputes',
      account: accountId,
      kind: '500',
      rate: 1,
      seen: 0,
    });
    await expect(runSync(unsplit(), job, plenty)).rejects.toMatchObject({ statusCode: 500 });
    expect(
      (await stack.records.versions({ orgId: orgId, mode: 'test', accountId: accountId }, 'charges')).size,
    ).toBe(SMALL.charges);
    expect((await onlyConnection(stack.store, orgId))?.sync).toMatchObject({
      state: 'failed',
      resourceErrors: { disputes: { code: 'stripe_unavailable' } },
    });
    stack.sandbox.faults.length = 0;
    await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, orgId, accountId);
  });

  it('a run whose worker died shows interrupted, and the sweep resumes it from its checkpoint once its lease ran out', async () => {
    const { accountId, orgId, job } = await connectedAccount({ ...SMALL, balance_transactions: 1000 });
    // The worker dies after its third page: nothing after runs, its lease is never renewed nor released.
    const never = new Promise<never>(() => undefined);
    const deadStore = new Proxy(stack.syncDeps.store, {
      get: (target, prop, receiver) =>
        prop === 'renewSyncLease' ? () => never : Reflect.get(target, prop, receiver).bind(target),
    });
    let pages = 0;
    let died: () => void = () => undefined;
    const dead = new Promise<void>((resolve) => {
      died = resolve;
    });
    const crashed = runSync(
      {
        ...unsplit(),
        store: deadStore,
        onPageStored: () => {
          if (++pages !== 3) return;
          died();
          return never;
        },
      },
      job,
      plenty,
    );
    await Promise.race([
      dead,
      crashed.then((outcome) => Promise.reject(new Error(`the run ended: ${JSON.stringify(outcome)}`))),
    ]);
    const token = await tokenFor(stack, orgId, 'member');
    const status = async () =>
      (await api(stack, 'GET', '/v1/integrations/stripe/status', { token })).json.sync as { state: string };
    expect((await status()).state).toBe('running');
    // Its lease still holds: the sweep leaves it (another org's stalled sync it may resume).
    await stack.sweep();
    expect((await onlyConnection(stack.store, orgId))?.sync.state).toBe('running');
    const leaseMs = stack.syncDeps.config.leaseMs;
    stack.clock.advance(leaseMs + 1000);
    try {
      expect((await status()).state).toBe('interrupted');
      const since = Date.now();
      expect((await stack.sweep()).resumed).toBeGreaterThanOrEqual(1);
      expect((await onlyConnection(stack.store, orgId))?.sync.state).toBe('queued');
      stack.queues.sync.resume();
      const done = await waitForSync(stack, orgId);
      expect(done.sync).toMatchObject({ state: 'idle', lastError: null });
      expect(done.sync.lastSuccessAt).not.toBeNull();
      // Resumed, not restarted: the pages stored before the crash are not read again.
      const again = listRequests(stack, accountId, since).filter(
        (r) => r.route === 'GET /v1/balance_transactions' && !r.query.includes('ending_before'),
      );
      expect(again.length).toBeLessThanOrEqual(Math.ceil(1000 / 100) - 2);
      await expectConverged(stack, orgId, accountId);
    } finally {
      stack.clock.advance(-(leaseMs + 1000));
    }
  });

  it('revocation mid-sync (the deauthorize webhook): it stops at its next page and stores nothing after', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    pageHook = async (_r, pages) => {
      if (pages !== 3) return;
      // The user uninstalled two minutes after installing (one within a minute waits for a sync to tell).
      const granted = Date.parse((await onlyConnection(stack.store, orgId))?.authorizedAt as string);
      const event = stripeEvent(
        'account.application.deauthorized',
        { id: 'ca_x', object: 'application' },
        { account: accountId, created: Math.floor(granted / 1000) + 120 },
      );
      await processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never });
      stoppedOrg = orgId;
      writesAllowed = false;
    };
    const before = writesAfterStop;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'stopped' });
    expect(writesAfterStop).toBe(before);
    expect((await onlyConnection(stack.store, orgId))?.status).toBe('revoked');
  });

  it('a run whose lease another worker took over stops at its next page, before its heartbeat notices', async () => {
    const { orgId, job } = await connectedAccount(SMALL);
    pageHook = async (_r, pages) => {
      if (pages !== 3) return;
      // Our lease looks run out to another worker (a long pause of this one), which takes it.
      const later = stack.clock.now().getTime() + stack.syncDeps.config.leaseMs + 1000;
      const taken = await stack.store.acquireSyncLease(
        await onlyRef(stack.store, orgId),
        job.connectionId,
        'other-worker',
        later,
        later + 60_000,
      );
      expect(taken.ok).toBe(true);
      stoppedOrg = orgId;
      writesAllowed = false;
    };
    const before = writesAfterStop;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'stopped' });
    expect(writesAfterStop).toBe(before);
    // The lease is the other worker's still: the stopped run released nothing of it.
    expect((await onlyConnection(stack.store, orgId))?.sync.state).toBe('running');
    await stack.store.releaseSyncLease(await onlyRef(stack.store, orgId), 'other-worker', { state: 'idle' });
  });

  it('a 401 that survives a refresh marks the connection needs_reauth and stops', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    // Every token Stripe issues from now on is refused: uninstall in Stripe, quietly (no webhook endpoint knows).
    const endpoints = stack.sandbox.sandbox.endpoints.splice(0);
    pageHook = (_r, pages) => {
      if (pages === 1) stack.sandbox.sandbox.expireAccessTokens(accountId);
      if (pages === 1) stack.sandbox.sandbox.accessTokenTtlSeconds = 0;
    };
    try {
      await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
        outcome: 'stopped',
        reason: 'needs_reauth',
      });
    } finally {
      stack.sandbox.sandbox.accessTokenTtlSeconds = 3600;
      stack.sandbox.sandbox.endpoints.push(...endpoints);
    }
    const connection = await onlyConnection(stack.store, orgId);
    expect(connection?.status).toBe('needs_reauth');
    // Defrr is told, once, on its bus, in the published schema.
    const told = stack.bus.events.filter(
      (e) => e['detail-type'] === 'Stripe Connection Needs Reauth' && e.detail.orgId === orgId,
    );
    expect(told).toHaveLength(1);
    expect(EVENT_SCHEMAS['Stripe Connection Needs Reauth'].parse(told[0]?.detail)).toMatchObject({
      accountId,
      connection: `test_${accountId}`,
      connectionId: job.connectionId,
    });
    expect(connection?.sync.lastError?.code).toBe('needs_reauth');
  });

  it('two workers for one connection: one runs, the other exits quietly, the records are right', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    const outcomes = await Promise.all([
      runSync(stack.syncDeps, job, plenty),
      runSync(stack.syncDeps, job, plenty),
    ]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['completed', 'skipped']);
    expect(outcomes.find((o) => o.outcome === 'skipped')).toMatchObject({ reason: 'held' });
    await expectConverged(stack, orgId, accountId);
  });

  it('a job for a replaced or disconnected connection does nothing', async () => {
    const { orgId, job } = await connectedAccount(SMALL);
    await endConnection(
      { store: stack.store, vault: stack.vault, clock: stack.clock, events: stack.bus },
      await onlyRef(stack.store, orgId),
      'disconnected',
      'test',
    );
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
      outcome: 'skipped',
      reason: 'gone',
    });
  });
});

describe('dispatch and manual syncs', () => {
  it('the nightly dispatcher queues exactly the 250 connected connections, in batches of ten', async () => {
    const dispatchStack = await startTestStack();
    try {
      dispatchStack.queues.sync.pause();
      const statuses = [
        ...Array(250).fill('connected'),
        ...Array(15).fill('revoked'),
        ...Array(15).fill('disconnected'),
      ];
      await Promise.all(
        statuses.map((status, i) =>
          dispatchStack.store.putConnection(sampleConnection(`org_d_${i}`, { status }), null),
        ),
      );
      const before = dispatchStack.queues.sync.sent;
      const result = await dispatchSyncs({
        store: dispatchStack.store,
        syncQueue: dispatchStack.queues.sync,
        clock: dispatchStack.clock,
      });
      expect(result).toMatchObject({ connections: 250, queued: 250, skipped: 0 });
      expect(result.batchCalls).toBe(25);
      expect(dispatchStack.queues.sync.sent - before).toBe(250);
      // Already queued: a second run in the same night sends nothing.
      const again = await dispatchSyncs({
        store: dispatchStack.store,
        syncQueue: dispatchStack.queues.sync,
        clock: dispatchStack.clock,
      });
      expect(again).toMatchObject({ queued: 0, skipped: 250 });
      // The schedule's admin trigger runs the same dispatcher.
      dispatchStack.clock.advance(2 * 60 * 60_000);
      const response = await fetch(`${dispatchStack.url}/_local/schedule/run`, { method: 'POST' });
      expect(response.status).toBe(202);
      expect(dispatchStack.queues.sync.sent - before).toBe(500);
    } finally {
      await dispatchStack.close();
    }
  });

  it('POST /sync: 202 queued, 429 moments later, 409 when not connected, 403 for a member', async () => {
    const { orgId } = await connectedAccount(SMALL, { runFirstSync: true });
    await waitForSync(stack, orgId);
    const token = await tokenFor(stack, orgId);
    const first = await api(stack, 'POST', '/v1/integrations/stripe/sync', { token });
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ state: 'queued' });
    const second = await api(stack, 'POST', '/v1/integrations/stripe/sync', { token });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(
      (
        await api(stack, 'POST', '/v1/integrations/stripe/sync', {
          token: await tokenFor(stack, 'org_never_connected'),
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await api(stack, 'POST', '/v1/integrations/stripe/sync', {
          token: await tokenFor(stack, orgId, 'member'),
        })
      ).status,
    ).toBe(403);
    const done = await waitForSync(stack, orgId);
    expect(done.sync.state).toBe('idle');
  });

  it('POST /sync accepts one request per interval per connection, however fast the runs finish', async () => {
    const { orgId } = await connectedAccount(SMALL, { runFirstSync: true });
    await waitForSync(stack, orgId);
    const token = await tokenFor(stack, orgId);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await api(stack, 'POST', '/v1/integrations/stripe/sync', { token });
      statuses.push(response.status);
      if (response.status === 429) {
        const retryAfter = Number(response.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(300);
      }
      await waitForSync(stack, orgId); // the run finishes before the next request
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(11);
    // After the interval, one more.
    stack.clock.advance(301_000);
    try {
      expect((await api(stack, 'POST', '/v1/integrations/stripe/sync', { token })).status).toBe(202);
      expect((await api(stack, 'POST', '/v1/integrations/stripe/sync', { token })).status).toBe(429);
    } finally {
      stack.clock.advance(-301_000);
    }
    await waitForSync(stack, orgId);
  });

  it('a sync asked for during a run waits for that run to end, then runs', async () => {
    const { orgId, job, accountId } = await connectedAccount(SMALL);
    stack.queues.sync.resume();
    slowStripe(stack, accountId, ['GET /v1/balance_transactions'], 200);
    const first = runSync(stack.syncDeps, job, plenty);
    // The run holds the lease: a manual job is put back on the queue, not dropped.
    for (let i = 0; i < 100 && (await onlyConnection(stack.store, orgId))?.sync.state !== 'running'; i++)
      await new Promise((r) => setTimeout(r, 20));
    const sentBefore = stack.queues.sync.sent;
    const deps = { ...stack.syncDeps, config: { ...stack.syncDeps.config, deferSeconds: 1 } };
    await expect(runSync(deps, { ...job, reason: 'manual' }, plenty)).resolves.toEqual({
      outcome: 'deferred',
    });
    expect(stack.queues.sync.sent).toBe(sentBefore + 1);
    await expect(first).resolves.toMatchObject({ outcome: 'completed' });
    // The deferred job runs once the first run has let go of the lease.
    const after = await waitForSync(stack, orgId);
    expect(after.sync.lastSuccessAt).not.toBeNull();
  });
});

describe('an uninstall within a minute of the install (whose it was, the sync tells)', () => {
  /** Stripe's event for an uninstall 5 s after the grant: in doubt (the clocks may be a minute apart). */
  const uninstallInDoubt = async (orgId: string, accountId: string) => {
    const granted = Date.parse((await onlyConnection(stack.store, orgId))?.authorizedAt as string);
    return stripeEvent(
      'account.application.deauthorized',
      { id: 'ca_x', object: 'application' },
      { account: accountId, created: Math.floor(granted / 1000) + 5 },
    );
  };
  const told = (orgId: string, type: string) =>
    stack.bus.events.filter((e) => e['detail-type'] === type && e.detail.orgId === orgId).length;
  /** Processes the event here, with no webhook endpoint delivering the sandbox's own copy meanwhile. */
  const quietly = async <T>(fn: () => Promise<T>): Promise<T> => {
    const endpoints = stack.sandbox.sandbox.endpoints.splice(0);
    try {
      return await fn();
    } finally {
      stack.sandbox.sandbox.endpoints.push(...endpoints);
    }
  };
  const deliver = async (orgId: string, accountId: string) =>
    processWebhookMessage(stack.processorDeps, {
      kind: 'event',
      event: (await uninstallInDoubt(orgId, accountId)) as never,
    });

  it('a run whose requests Stripe answered clears the note even when it ends partial; a later lost token is needs_reauth, not an uninstall', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await quietly(() => deliver(orgId, accountId)); // it was the install before: this one is alive
    expect((await onlyConnection(stack.store, orgId))?.uninstallInDoubt).toEqual(expect.any(String));
    stack.sandbox.faults.push({
      id: 'perm',
      route: 'GET /v1/disputes',
      account: accountId,
      kind: '403',
      rate: 1,
      seen: 0,
    });
    try {
      await expect(runSync(unsplit(), job, plenty)).resolves.toMatchObject({ outcome: 'partial' });
    } finally {
      stack.sandbox.faults.length = 0;
    }
    const after = await onlyConnection(stack.store, orgId);
    expect(after?.uninstallInDoubt).toBeUndefined();
    // Unrelated: the tokens are lost.
    await stack.vault.delete(after?.secretName as string);
    await runSync(unsplit(), job, plenty);
    expect((await onlyConnection(stack.store, orgId))?.status).toBe('needs_reauth');
    expect(told(orgId, 'Stripe Connection Revoked')).toBe(0);
  });

  it('a refreshed token Stripe refuses (the refresh was granted: the install is alive) is needs_reauth, whatever was noted', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    await quietly(() => deliver(orgId, accountId));
    pageHook = (_r, pages) => {
      if (pages !== 1) return;
      stack.sandbox.sandbox.expireAccessTokens(accountId);
      stack.sandbox.sandbox.accessTokenTtlSeconds = 0; // every token issued from now on is dead at once
    };
    try {
      await runSync(stack.syncDeps, job, plenty);
    } finally {
      pageHook = undefined;
      stack.sandbox.sandbox.accessTokenTtlSeconds = 3600;
    }
    expect((await onlyConnection(stack.store, orgId))?.status).toBe('needs_reauth');
    expect(told(orgId, 'Stripe Connection Revoked')).toBe(0);
  });

  it('noted while a run holds the lease, and another worker of that run meets the dead token: revoked, told once', async () => {
    const { accountId, orgId, job } = await connectedAccount({ ...NOTHING_ELSE, balance_transactions: 250 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const hold = {
      id: 'hold',
      route: 'GET /v1/balance_transactions',
      account: accountId,
      kind: 'hold' as const,
      until: gate,
      nth: 3,
      seen: 0,
    };
    stack.sandbox.faults.push(hold);
    try {
      await quietly(async () => {
        const running = runSync(unsplit(), job, plenty);
        while (hold.seen < 3) await new Promise((resolve) => setTimeout(resolve, 20));
        stack.sandbox.sandbox.uninstall(accountId, 'test');
        await deliver(orgId, accountId);
        expect((await onlyConnection(stack.store, orgId))?.uninstallInDoubt).toEqual(expect.any(String));
        // A helper of a shared-out backfill (or a resource in parallel) gets the 401 first.
        const connection = await onlyConnection(stack.store, orgId);
        const tokens = await stack.vault.read(connection?.secretName as string);
        await expect(
          stack.syncDeps.access.refreshAfterUnauthorized(refOf(job), tokens?.accessToken as string),
        ).rejects.toMatchObject({ code: 'revoked' });
        open();
        await running;
      });
    } finally {
      open();
      stack.sandbox.faults.length = 0;
    }
    const ended = await onlyConnection(stack.store, orgId);
    expect([ended?.status, ended?.statusReason]).toEqual(['revoked', 'deauthorized']);
    expect(told(orgId, 'Stripe Connection Revoked')).toBe(1);
    expect(told(orgId, 'Stripe Connection Needs Reauth')).toBe(0);
  });

  it('noted before the run that meets the dead token: straight to revoked, with no needs_reauth on the way for a reader to see', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    const transitions = jest.spyOn(stack.store, 'transition');
    try {
      await quietly(async () => {
        stack.sandbox.sandbox.uninstall(accountId, 'test');
        stack.sandbox.sandbox.expireAccessTokens(accountId);
        await deliver(orgId, accountId);
        expect((await onlyConnection(stack.store, orgId))?.status).toBe('connected');
        await runSync(stack.syncDeps, job, plenty);
      });
      const mine = transitions.mock.calls.filter(([ref]) => ref.orgId === orgId).map(([, t]) => t.to);
      expect(mine).toEqual(['revoked']);
    } finally {
      transitions.mockRestore();
    }
    const ended = await onlyConnection(stack.store, orgId);
    expect([ended?.status, ended?.statusReason]).toEqual(['revoked', 'deauthorized']);
    expect(told(orgId, 'Stripe Connection Revoked')).toBe(1);
    expect(told(orgId, 'Stripe Connection Needs Reauth')).toBe(0);
  });

  it('the sync meets the dead token before the event is processed: needs_reauth keeps the link, and the event then revokes', async () => {
    const { accountId, orgId, job } = await connectedAccount(SMALL);
    const scope = { orgId, mode: 'test' as const, accountId };
    await quietly(async () => {
      stack.sandbox.sandbox.uninstall(accountId, 'test');
      stack.sandbox.sandbox.expireAccessTokens(accountId);
      await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
        outcome: 'stopped',
        reason: 'needs_reauth',
      });
      expect((await onlyConnection(stack.store, orgId))?.status).toBe('needs_reauth');
      expect((await stack.store.accountLinks(accountId)).map((l) => l.orgId)).toContain(orgId);
      // The kept link writes nothing for a connection not in use: an object event is dropped.
      const charge = stripeEvent(
        'charge.succeeded',
        { id: 'ch_after_reauth', object: 'charge', created: 1_790_000_000, amount: 100, currency: 'usd' },
        { account: accountId },
      );
      await expect(
        processWebhookMessage(stack.processorDeps, { kind: 'event', event: charge as never }),
      ).resolves.toBe('dropped');
      expect(await stack.records.get(scope, 'charges', 'ch_after_reauth')).toBeUndefined();
      await expect(deliver(orgId, accountId)).resolves.toBe('processed');
    });
    const ended = await onlyConnection(stack.store, orgId);
    expect([ended?.status, ended?.statusReason]).toEqual(['revoked', 'deauthorized']);
    expect(told(orgId, 'Stripe Connection Revoked')).toBe(1);
    expect(await stack.store.accountLinks(accountId)).toEqual([]);
  });
});
