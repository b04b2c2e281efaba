import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { recordKeys } from '../../shared/data/keys.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { RecordScope } from '../../shared/ports/records-store.js';
import type { ResourceName } from '../../shared/records/registry.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { onlyConnection } from '../support/connections.js';
import { api, connectOrg, settle, startTestStack, type TestClock, tokenFor } from '../support/local-stack.js';
import { connectNewAccount, expectConverged } from '../support/sync.js';

/**
 * Invoice lines and credit-note lines as records of their own: every line (not only the page
 * Stripe embeds), at the version of the invoice that holds it, on the sync's path and the
 * webhooks'; a draft's removed lines, and a deleted draft's, kept and marked deleted.
 */
jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
const plenty = () => 15 * 60_000;
const COUNTS = {
  balance_transactions: 40,
  charges: 20,
  refunds: 3,
  // Every 40th seeded invoice (the 8th) has 14 lines: more than Stripe embeds.
  invoices: 48,
  credit_notes: 6,
  disputes: 1,
  customers: 6,
  products: 2,
  prices: 4,
  coupons: 1,
  subscriptions: 5,
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
async function connectedAccount() {
  const connected = await connectNewAccount(stack, 'LineItemsTest', COUNTS);
  await expect(runSync(stack.syncDeps, connected.job, plenty)).resolves.toMatchObject({
    outcome: 'completed',
  });
  stack.queues.sync.resume();
  return connected;
}

const sandboxLines = (accountId: string, invoiceId: string) =>
  (stack.sandbox.sandbox.accountData(accountId, 'test')?.invoiceLinesOf(invoiceId) ?? []).map((l) => l.id);

/** Each line's record: `live`, `deleted` or `missing`. */
async function lineStates(scope: RecordScope, resource: ResourceName, ids: string[]) {
  const states: string[] = [];
  for (const id of ids) {
    const record = await stack.records.get(scope, resource, id);
    states.push(!record ? 'missing' : record.deleted ? 'deleted' : 'live');
  }
  return states;
}

const manualSync = (job: SyncJob) =>
  expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
    outcome: 'completed',
  });

/** Webhooks off: what happens in Stripe reaches the service only through the sync's event pass. */
async function dropWebhooks() {
  await stack.sandbox.sandbox.webhooksIdle(30_000);
  stack.queues.webhooks.purge();
}

describe('invoice and credit-note lines', () => {
  it('are backfilled, every page of them, each naming its invoice; the counts are the lines Stripe has', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const report = await expectConverged(stack, orgId, accountId, { compareObjects: true });
    const data = stack.sandbox.sandbox.accountData(accountId, 'test');
    let lines = 0;
    let long: string | undefined;
    for (const invoice of data?.collections.invoices.live() ?? []) {
      const count = sandboxLines(accountId, invoice.id).length;
      lines += count;
      if (count > 10) long = invoice.id;
    }
    expect(long).toBeDefined();
    expect(report.resources.invoice_line_items.stored).toBe(lines);
    expect(report.resources.credit_note_line_items.stored).toBeGreaterThanOrEqual(COUNTS.credit_notes);
    // Seeded subscriptions have one or two items each, canceled ones included.
    expect(report.resources.subscription_items.stored).toBeGreaterThanOrEqual(COUNTS.subscriptions);
    expect((await onlyConnection(stack.store, orgId))?.sync.counts).toMatchObject({
      invoice_line_items: lines,
      credit_note_line_items: report.resources.credit_note_line_items.stored,
    });
    // The 14th line of the long invoice came from its /lines list, and names its invoice.
    const last = sandboxLines(accountId, long as string).at(-1) as string;
    expect(await stack.records.get(scope, 'invoice_line_items', last)).toMatchObject({
      deleted: false,
      object: { id: last, object: 'line_item', invoice: long },
    });
  });

  it('by webhooks: a draft’s removed lines and a deleted draft’s lines are kept and marked deleted', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const invoice = sandbox.draftInvoice(accountId, 'test', 3);
    await settle(stack, ['webhooks', 'sync']);
    const first = sandboxLines(accountId, invoice);
    expect(await lineStates(scope, 'invoice_line_items', first)).toEqual(['live', 'live', 'live']);

    sandbox.reviseDraft(accountId, 'test', invoice, 2);
    await settle(stack, ['webhooks', 'sync']);
    const second = sandboxLines(accountId, invoice);
    expect(await lineStates(scope, 'invoice_line_items', first)).toEqual(['deleted', 'deleted', 'deleted']);
    expect(await lineStates(scope, 'invoice_line_items', second)).toEqual(['live', 'live']);
    // The last object stays with the mark.
    expect(await stack.records.get(scope, 'invoice_line_items', first[0] as string)).toMatchObject({
      deleted: true,
      object: { id: first[0], invoice },
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });

    sandbox.deleteDraft(accountId, 'test', invoice);
    await settle(stack, ['webhooks', 'sync']);
    expect(await stack.records.get(scope, 'invoices', invoice)).toMatchObject({ deleted: true });
    expect(await lineStates(scope, 'invoice_line_items', second)).toEqual(['deleted', 'deleted']);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('by webhooks: a draft of more lines than Stripe embeds gets all of them, and loses them all when revised', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const invoice = sandbox.draftInvoice(accountId, 'test', 14);
    await settle(stack, ['webhooks', 'sync']);
    const long = sandboxLines(accountId, invoice);
    expect(long).toHaveLength(14);
    expect(new Set(await lineStates(scope, 'invoice_line_items', long))).toEqual(new Set(['live']));
    sandbox.reviseDraft(accountId, 'test', invoice, 3);
    await settle(stack, ['webhooks', 'sync']);
    expect(new Set(await lineStates(scope, 'invoice_line_items', long))).toEqual(new Set(['deleted']));
    expect(await lineStates(scope, 'invoice_line_items', sandboxLines(accountId, invoice))).toEqual([
      'live',
      'live',
      'live',
    ]);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('by events alone (no webhooks): the same, run after run', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    stack.queues.webhooks.pause();
    const invoice = sandbox.draftInvoice(accountId, 'test', 12);
    await dropWebhooks();
    await manualSync(job);
    const first = sandboxLines(accountId, invoice);
    expect(new Set(await lineStates(scope, 'invoice_line_items', first))).toEqual(new Set(['live']));

    stack.clock.advance(10 * 60_000);
    sandbox.reviseDraft(accountId, 'test', invoice, 4);
    await dropWebhooks();
    await manualSync(job);
    const second = sandboxLines(accountId, invoice);
    expect(new Set(await lineStates(scope, 'invoice_line_items', first))).toEqual(new Set(['deleted']));
    expect(await lineStates(scope, 'invoice_line_items', second)).toEqual(['live', 'live', 'live', 'live']);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });

    stack.clock.advance(10 * 60_000);
    sandbox.deleteDraft(accountId, 'test', invoice);
    await dropWebhooks();
    await manualSync(job);
    expect(await lineStates(scope, 'invoice_line_items', second)).toEqual([
      'deleted',
      'deleted',
      'deleted',
      'deleted',
    ]);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('a draft deleted while the account was disconnected: the reconnect’s full pass marks it and its lines', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const invoice = sandbox.draftInvoice(accountId, 'test', 13);
    await settle(stack, ['webhooks', 'sync']);
    const lines = sandboxLines(accountId, invoice);
    expect(new Set(await lineStates(scope, 'invoice_line_items', lines))).toEqual(new Set(['live']));
    const admin = await tokenFor(stack, orgId);
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token: admin })).status).toBe(204);
    sandbox.deleteDraft(accountId, 'test', invoice);
    await settle(stack, ['webhooks']);
    expect(await stack.records.get(scope, 'invoices', invoice)).toMatchObject({ deleted: false });
    // Its event falls before the reconnect's snapshot: only the sweep can find the deletion
    // (an event in the snapshot's own second would be read by the event pass instead).
    sandbox.advanceClock(5);
    await connectOrg(stack, orgId, { account: accountId });
    await settle(stack, ['webhooks', 'sync']);
    expect(await stack.records.get(scope, 'invoices', invoice)).toMatchObject({ deleted: true });
    expect(new Set(await lineStates(scope, 'invoice_line_items', lines))).toEqual(new Set(['deleted']));
    expect((await onlyConnection(stack.store, orgId))?.fullSync).toMatchObject({
      state: 'done',
      deleted: 1 + lines.length,
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('a partition older code wrote (no line records, checkpoints without them): the next run backfills the lines', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const db = documentClient(stack.dynamoClient);
    // As before this change: no line records, and checkpoints that do not say they wrote any.
    for (const resource of ['invoice_line_items', 'credit_note_line_items'] as const) {
      for (const id of (await stack.records.versions(scope, resource)).keys())
        await db.send(
          new DeleteCommand({ TableName: LOCAL_TABLES.records, Key: recordKeys.record(scope, resource, id) }),
        );
      await stack.records.recount(scope, resource);
    }
    for (const resource of ['invoices', 'credit_notes'] as const) {
      const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), resource);
      if (!checkpoint) throw new Error(`no checkpoint for ${resource}`);
      delete checkpoint.lineRecords;
      await stack.syncDeps.checkpoints.put(checkpoint);
    }
    await expect(expectConverged(stack, orgId, accountId)).rejects.toThrow(/invoice_line_items/);
    stack.clock.advance(10 * 60_000);
    await manualSync(job);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
    expect((await stack.syncDeps.checkpoints.get(refOf(job), 'invoices'))?.lineRecords).toBe(true);
  });

  it('a subscription’s items, past the ten Stripe embeds, by webhooks and by events alone; removed items marked deleted', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const items = (id: string) =>
      (sandbox.accountData(accountId, 'test')?.subscriptionItemsOf(id) ?? []).map((item) => item.id);
    const live = (n: number) => Array.from({ length: n }, () => 'live');
    const byWebhook = sandbox.subscriptionWithItems(accountId, 'test', 12);
    await settle(stack, ['webhooks', 'sync']);
    const all = items(byWebhook);
    expect(all).toHaveLength(12);
    expect(await lineStates(scope, 'subscription_items', all)).toEqual(live(12));
    sandbox.removeSubscriptionItems(accountId, 'test', byWebhook, 3);
    await settle(stack, ['webhooks', 'sync']);
    expect(await lineStates(scope, 'subscription_items', all)).toEqual([
      ...live(3),
      ...all.slice(3).map(() => 'deleted'),
    ]);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });

    stack.queues.webhooks.pause();
    const byEvents = sandbox.subscriptionWithItems(accountId, 'test', 11);
    await dropWebhooks();
    stack.clock.advance(10 * 60_000);
    await manualSync(job);
    const eleven = items(byEvents);
    expect(await lineStates(scope, 'subscription_items', eleven)).toEqual(live(11));
    sandbox.removeSubscriptionItems(accountId, 'test', byEvents, 1);
    await dropWebhooks();
    stack.clock.advance(10 * 60_000);
    await manualSync(job);
    expect(await lineStates(scope, 'subscription_items', eleven)).toEqual([
      'live',
      ...eleven.slice(1).map(() => 'deleted'),
    ]);
    expect(await stack.records.get(scope, 'subscription_items', eleven[0] as string)).toMatchObject({
      object: { id: eleven[0], subscription: byEvents },
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('an upgrade mid-period: proration lines of the subscription item, the item on its new price, the payment tied to its charge', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const sandbox = stack.sandbox.sandbox;
    const [subscription, invoice, charge, , payment] = sandbox.createActivity(
      accountId,
      'test',
      'subscription_upgraded',
    ).objects;
    await settle(stack, ['webhooks', 'sync']);
    const lines = sandboxLines(accountId, invoice as string);
    expect(lines).toHaveLength(2);
    const [credit, debit] = await Promise.all(
      lines.map((id) => stack.records.get(scope, 'invoice_line_items', id)),
    );
    const sub = sandbox
      .accountData(accountId, 'test')
      ?.collections.subscriptions.get(subscription as string) as
      | { items: { data: Array<{ id: string; price: { id: string } }> } }
      | undefined;
    const item = sub?.items.data[0];
    for (const line of [credit, debit])
      expect(line?.object).toMatchObject({
        invoice,
        parent: {
          type: 'subscription_item_details',
          subscription_item_details: { proration: true, subscription, subscription_item: item?.id },
        },
      });
    expect((credit?.object.amount as number) < 0).toBe(true);
    expect((debit?.object.amount as number) > 0).toBe(true);
    expect(await stack.records.get(scope, 'subscription_items', item?.id as string)).toMatchObject({
      deleted: false,
      object: { price: { id: item?.price.id } },
    });
    expect(await stack.records.get(scope, 'invoice_payments', payment as string)).toMatchObject({
      object: { invoice, payment: { charge } },
    });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });

  it('a new credit note’s lines, by webhook: each names its credit note and the invoice line it credits', async () => {
    const { accountId, orgId, scope } = await connectedAccount();
    const [creditNote] = stack.sandbox.sandbox.createActivity(accountId, 'test', 'credit_note').objects;
    await settle(stack, ['webhooks', 'sync']);
    const lines =
      stack.sandbox.sandbox.accountData(accountId, 'test')?.creditNoteLinesOf(creditNote as string) ?? [];
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(await stack.records.get(scope, 'credit_note_line_items', line.id)).toMatchObject({
        deleted: false,
        object: { id: line.id, invoice_line_item: line.invoice_line_item },
      });
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });
});
