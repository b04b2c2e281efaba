import type { LocalStack } from '../../local/stack.js';
import { type Connection, refOf } from '../../shared/domain/connection.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { onlyConnection } from '../support/connections.js';
import { api, connectOrg, settle, startTestStack, type TestClock, tokenFor } from '../support/local-stack.js';
import { connectNewAccount, expectConverged, sandboxCounts, slowStripe } from '../support/sync.js';
import { wrapRecords } from '../support/wrap-records.js';

jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
/** Fails the next batch write after it was made: a worker that dies before counting it. */
let dieAfterWrite: string | undefined;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25', SYNC_MIN_INTERVAL_SECONDS: '1' },
    {
      sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 }, deferSeconds: 1 },
      wrap: {
        records: (records: RecordsStore): RecordsStore =>
          wrapRecords(records, {
            putMany: async (writes) => {
              const result = await records.putMany(writes);
              if (dieAfterWrite && writes[0]?.resource === dieAfterWrite) {
                dieAfterWrite = undefined;
                throw new Error('the worker died after its batch write');
              }
              return result;
            },
          }),
      },
    },
  );
});
afterAll(() => stack.close());
afterEach(() => {
  dieAfterWrite = undefined;
  stack.sandbox.faults.length = 0;
  stack.queues.sync.resume();
  stack.queues.webhooks.resume();
});

const plenty = () => 15 * 60_000;
const COUNTS = {
  balance_transactions: 250,
  charges: 230,
  refunds: 20,
  invoices: 15,
  credit_notes: 4,
  disputes: 3,
};

async function connectedAccount(counts: Record<string, number> = COUNTS) {
  return connectNewAccount(stack, 'CountTest', counts);
}

/** Stripe's objects per resource, as the oracle counts them. */
function truth(accountId: string) {
  return sandboxCounts(stack, accountId);
}

async function statusCounts(orgId: string) {
  const token = await tokenFor(stack, orgId);
  const status = await api(stack, 'GET', '/v1/integrations/stripe/status', { token });
  expect(status.status).toBe(200);
  return (status.json as { sync: { counts: Record<string, number> } }).sync.counts;
}

describe('the status counts are the records stored', () => {
  it('after a backfill, a webhook that creates a record, and a reconnect', async () => {
    const { accountId, orgId, job } = await connectedAccount();
    const first = await runSync(stack.syncDeps, job, plenty);
    expect(first).toMatchObject({ outcome: 'completed', counts: truth(accountId) });
    expect(await statusCounts(orgId)).toEqual(truth(accountId));

    // A charge that only a webhook has brought so far (its balance transaction, which has no
    // events, waits for the next sync).
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await settle(stack);
    expect((await statusCounts(orgId)).charges).toBe(truth(accountId).charges);

    // Reconnected: the records stay, and so do their counts.
    await connectOrg(stack, orgId, { account: accountId });
    stack.queues.sync.purge();
    expect((await statusCounts(orgId)).charges).toBe(truth(accountId).charges);
    const connection = await onlyConnection(stack.store, orgId);
    await expect(
      runSync(
        stack.syncDeps,
        {
          ...refOf(connection as Connection),
          connectionId: connection?.connectionId as string,
          reason: 'initial',
        },
        plenty,
      ),
    ).resolves.toMatchObject({ outcome: 'completed', counts: truth(accountId) });
    expect(await statusCounts(orgId)).toEqual(truth(accountId));
    await expectConverged(stack, orgId, accountId);
  });

  it('after a worker died between a batch write and its count, and after a lease was left behind', async () => {
    const { accountId, orgId, job } = await connectedAccount();
    dieAfterWrite = 'charges';
    await expect(runSync(stack.syncDeps, job, plenty)).rejects.toThrow('died after its batch write');
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
      outcome: 'completed',
      counts: truth(accountId),
    });
    expect(await statusCounts(orgId)).toEqual(truth(accountId));

    // A worker that died holding the lease (it never released it), its last count lost.
    await stack.records.addCounts({ orgId: orgId, mode: 'test', accountId: accountId }, { charges: -7 });
    const now = stack.clock.now().getTime();
    const dead = await stack.store.acquireSyncLease(
      refOf(job),
      job.connectionId,
      'dead-worker',
      now,
      now + 10,
    );
    expect(dead.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({
      outcome: 'completed',
      counts: truth(accountId),
    });
    expect(await statusCounts(orgId)).toEqual(truth(accountId));
  });

  it('after a backfill split into parallel slices (slow pages), and a deadline that paused it', async () => {
    const { accountId, orgId, job } = await connectedAccount({ ...COUNTS, balance_transactions: 1500 });
    slowStripe(stack, accountId, ['GET /v1/balance_transactions', 'GET /v1/charges'], 150);
    let calls = 0;
    // The first run has little time: it stops after a few pages and the next one resumes.
    const short = () => (++calls < 40 ? 15 * 60_000 : 0);
    const paused = await runSync(stack.syncDeps, job, short);
    expect(paused.outcome).toBe('continued');
    stack.queues.sync.purge();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'continue' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
      counts: truth(accountId),
    });
    expect(await statusCounts(orgId)).toEqual(truth(accountId));
    await expectConverged(stack, orgId, accountId, { compareObjects: false });
  });
});
