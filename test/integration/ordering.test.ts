import type { LocalStack } from '../../local/stack.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { connectOrg, settle, startTestStack, type TestClock } from '../support/local-stack.js';
import { expectConverged, sandboxObjects } from '../support/sync.js';

jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
let n = 0;
let pageHook: ((resource: string, pages: number) => void | Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25' },
    {
      sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 } },
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

async function connectedAccount() {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1OrderTest${suffix}00000`;
  const orgId = `org_order_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Order ${suffix}`, counts: COUNTS });
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId });
  const connection = await stack.store.getConnection(orgId);
  if (!connection) throw new Error('not connected');
  const job: SyncJob = { orgId, connectionId: connection.connectionId, reason: 'initial' };
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
      const stored = await stack.records.get(orgId, accountId, 'charges', charge.id as string);
      expect(stored?.object.amount_refunded).toBe(charge.amount_refunded);
    }
    if (chargeId)
      expect((await stack.records.get(orgId, accountId, 'charges', chargeId))?.object).toBeTruthy();

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
