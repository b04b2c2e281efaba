import type { LocalStack } from '../../local/stack.js';
import { OLD_API_VERSION } from '../../local/stripe-sandbox/api-versions.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { RESOURCES } from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { onlyConnection } from '../support/connections.js';
import { connectOrg, settle, startTestStack, type TestClock } from '../support/local-stack.js';
import { expectConverged, sandboxObjects } from '../support/sync.js';
import { stripeEvent } from '../support/webhooks.js';

jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
let n = 0;
let pageHook: ((resource: string, pages: number) => void | Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25' },
    {
      sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 }, deferSeconds: 1 },
      wrap: { onPageStored: (resource, pages) => pageHook?.(resource, pages) },
    },
  );
});
afterAll(() => stack.close());
afterEach(() => {
  pageHook = undefined;
  stack.clock.offsetMs = 0;
  stack.queues.webhooks.resume();
  stack.queues.sync.resume();
});

const plenty = () => 15 * 60_000;
const COUNTS = {
  balance_transactions: 40,
  charges: 30,
  refunds: 5,
  invoices: 5,
  credit_notes: 2,
  disputes: 2,
};

async function connectedAccount(spec: { apiVersion?: string } = {}) {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1OrderTest${suffix}00000`;
  const orgId = `org_order_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Order ${suffix}`, counts: COUNTS, ...spec });
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId });
  const connection = await onlyConnection(stack.store, orgId);
  if (!connection) throw new Error('not connected');
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  return { accountId, orgId, job };
}

// This service's clock against Stripe's: +3 s means Stripe's clock is 3 s behind ours.
describe.each([
  ['Stripe 3 s behind', 3_000],
  ['Stripe 60 s behind', 60_000],
  ['Stripe 60 s ahead', -60_000],
])('clock skew (%s)', (_label, offsetMs) => {
  it('a refund right after the backfill reaches the stored charge by webhook, and by the incremental pass', async () => {
    const { accountId, orgId, job } = await connectedAccount();
    stack.clock.offsetMs = offsetMs;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });

    // By webhook: the refund's charge.refunded is newer than the backfilled charge, whatever our clock says.
    const first = stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    await settle(stack);
    const chargeId = first.objects.find((id) => id.startsWith('ch_'));
    const refunded = sandboxObjects(stack, accountId, 'charges');
    const refundedCharges = [...refunded.values()].filter((c) => (c.amount_refunded as number) > 0);
    expect(refundedCharges.length).toBeGreaterThan(0);
    for (const charge of refundedCharges) {
      const stored = await stack.records.get(
        { orgId: orgId, mode: 'test', accountId: accountId },
        'charges',
        charge.id as string,
      );
      expect(stored?.object.amount_refunded).toBe(charge.amount_refunded);
    }
    if (chargeId)
      expect(
        (await stack.records.get({ orgId: orgId, mode: 'test', accountId: accountId }, 'charges', chargeId))
          ?.object,
      ).toBeTruthy();

    // By the incremental pass alone: the webhooks wait, the next sync reads the events.
    stack.queues.webhooks.pause();
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await stack.sandbox.sandbox.webhooksIdle(10_000);
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await expectConverged(stack, orgId, accountId);

    // The webhooks that waited are older than what the sync stored: applying them changes nothing.
    stack.queues.webhooks.resume();
    await settle(stack);
    await expectConverged(stack, orgId, accountId);
  });

  it('objects created while the backfill runs are stored, though no webhook brings them', async () => {
    const { accountId, orgId, job } = await connectedAccount();
    stack.clock.offsetMs = offsetMs;
    stack.queues.webhooks.pause();
    let made = false;
    pageHook = (resource) => {
      if (made || resource !== 'charges') return;
      made = true;
      stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
      stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    };
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    expect(made).toBe(true);
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await expectConverged(stack, orgId, accountId);
  });
});

describe('one writer per connection', () => {
  it('a webhook that lands while a run writes a page is not overwritten by that older page', async () => {
    const { accountId, orgId, job } = await connectedAccount();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    // Only the syncs the code asks for from here on (the connect queued one that never ran).
    stack.queues.sync.purge();
    // A refund the next incremental pass will read; its webhook waits.
    stack.queues.webhooks.pause();
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    await stack.sandbox.sandbox.webhooksIdle(10_000);

    // While that pass writes the refunded charge, the charge is refunded again and that
    // webhook is processed: between the pass's read of stored versions and its batch write.
    let landed = false;
    const hook = 'test:webhook-during-batch-write';
    stack.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        const charges =
          context.commandName === 'BatchWriteItemCommand' &&
          /"resource":(\{"S":)?"charges"/.test(JSON.stringify((args as { input: unknown }).input));
        if (!landed && charges) {
          landed = true;
          stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
          stack.queues.webhooks.resume();
          await settle(stack);
        }
        return next(args);
      },
      { step: 'initialize', name: hook },
    );
    try {
      await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
        outcome: 'completed',
      });
    } finally {
      stack.dynamoClient.middlewareStack.remove(hook);
    }
    expect(landed).toBe(true);
    // The webhook's change was left to the run: it asked for another sync, which applies it.
    stack.queues.sync.resume();
    await settle(stack, ['webhooks', 'sync']);
    await expectConverged(stack, orgId, accountId);
  });
});

describe('API versions', () => {
  it('objects of events rendered at an older version are read again at the pinned one; each record says its version', async () => {
    // An account whose default version predates 2022-11-15: its events embed a charge's refunds.
    const { accountId, orgId, job } = await connectedAccount({ apiVersion: OLD_API_VERSION });
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    stack.queues.sync.purge();
    stack.queues.webhooks.pause();
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await stack.sandbox.sandbox.webhooksIdle(10_000);
    const events = stack.sandbox.requests.length;
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    // The pass asked for the objects again (one retrieve each), since Stripe rendered their events otherwise.
    const retrieves = stack.sandbox.requests.slice(events).filter((r) => r.route === 'GET /v1/charges/:id');
    expect(retrieves.length).toBeGreaterThan(0);
    await expectConverged(stack, orgId, accountId);
    for (const def of RESOURCES) {
      for (const id of (
        await stack.records.versions({ orgId: orgId, mode: 'test', accountId: accountId }, def.name)
      ).keys()) {
        const record = await stack.records.get(
          { orgId: orgId, mode: 'test', accountId: accountId },
          def.name,
          id,
        );
        expect(record?.apiVersion).toBe(STRIPE_API_VERSION);
        if (def.name === 'charges') expect(record?.object).not.toHaveProperty('refunds');
      }
    }

    // A webhook from an endpoint at another version is not stored as it is: a sync reads its object.
    stack.queues.webhooks.resume();
    await settle(stack);
    const charge = [...sandboxObjects(stack, accountId, 'charges').values()][0] as Record<string, unknown>;
    const event = {
      ...stripeEvent(
        'charge.updated',
        { ...charge, refunds: { object: 'list', data: [] } },
        { account: accountId },
      ),
      api_version: OLD_API_VERSION,
    };
    const depth = stack.queues.sync.depth;
    await expect(
      processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never }),
    ).resolves.toBe('processed');
    expect(stack.queues.sync.depth).toBe(depth + 1);
    expect(
      (
        await stack.records.get(
          { orgId: orgId, mode: 'test', accountId: accountId },
          'charges',
          charge.id as string,
        )
      )?.object,
    ).not.toHaveProperty('refunds');
    stack.queues.sync.resume();
    await settle(stack, ['sync']);
    await expectConverged(stack, orgId, accountId);
  });
});
