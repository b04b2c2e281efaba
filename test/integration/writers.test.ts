import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { OLD_API_VERSION } from '../../local/stripe-sandbox/api-versions.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { recordKeys } from '../../shared/data/keys.js';
import { type Connection, refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { onlyConnection } from '../support/connections.js';
import { connectOrg, settle, startTestStack, type TestClock } from '../support/local-stack.js';
import { expectConverged, sandboxObjects } from '../support/sync.js';
import { stripeEvent } from '../support/webhooks.js';
import { wrapRecords } from '../support/wrap-records.js';

/**
 * Writers racing, dying and tying: the cases an independent review of the single writer,
 * the counts and the version order found (each failed before its fix).
 */
jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
let n = 0;
/** The next count of these resources fails (a worker that dies between a write and its count). */
let failCountOf: string | undefined;
/** The next batch write of these resources dies after it was made. */
let dieAfterWriteOf: string | undefined;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25' },
    {
      sync: { deferSeconds: 1, retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } },
      wrap: {
        records: (records: RecordsStore): RecordsStore =>
          wrapRecords(records, {
            addCounts: async (scope, deltas) => {
              if (failCountOf && failCountOf in deltas) {
                failCountOf = undefined;
                throw new Error('the worker died before counting');
              }
              return records.addCounts(scope, deltas);
            },
            putMany: async (writes) => {
              const result = await records.putMany(writes);
              if (dieAfterWriteOf && writes[0]?.resource === dieAfterWriteOf) {
                dieAfterWriteOf = undefined;
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
  failCountOf = undefined;
  dieAfterWriteOf = undefined;
  stack.queues.sync.resume();
  stack.queues.webhooks.resume();
});

const plenty = () => 15 * 60_000;

async function synced(counts: Record<string, number>, spec: { apiVersion?: string } = {}) {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1WriterTest${suffix}0000`;
  const orgId = `org_writers_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Writers ${suffix}`, counts, ...spec });
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId });
  stack.queues.sync.purge();
  const connection = await onlyConnection(stack.store, orgId);
  const job: SyncJob = {
    ...refOf(connection as Connection),
    connectionId: connection?.connectionId as string,
    reason: 'initial',
  };
  await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
  stack.queues.sync.purge();
  return { accountId, orgId, job };
}

const FEW = { balance_transactions: 4, charges: 6, refunds: 0, invoices: 0, credit_notes: 0, disputes: 0 };
const newCharge = (id: string) => ({
  id,
  object: 'charge',
  created: Math.floor(Date.now() / 1000),
  amount: 100,
  currency: 'usd',
  livemode: false,
});

describe('counts', () => {
  it('a webhook retried while a run holds the lease: the next run counts afresh', async () => {
    const { accountId, orgId, job } = await synced(FEW);
    const event = stripeEvent('charge.succeeded', newCharge('ch_writers_retried'), { account: accountId });
    failCountOf = 'charges';
    await expect(
      processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never }),
    ).rejects.toThrow('died before counting');
    const now = stack.clock.now().getTime();
    expect(
      (await stack.store.acquireSyncLease(refOf(job), job.connectionId, 'other-run', now, now + 60_000)).ok,
    ).toBe(true);
    await expect(
      processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never }),
    ).resolves.toBe('processed');
    await stack.store.releaseSyncLease(refOf(job), 'other-run', { state: 'idle' });
    await expect(runSync(stack.syncDeps, { ...job, reason: 'webhook' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    const stored = (
      await stack.records.versions({ orgId: orgId, mode: 'test', accountId: accountId }, 'charges')
    ).size;
    expect((await stack.records.counts({ orgId: orgId, mode: 'test', accountId: accountId }))?.charges).toBe(
      stored,
    );
  });

  it('a reconnect after a run died between a write and its count: the new connection counts afresh', async () => {
    const suffix = String(++n).padStart(4, '0');
    const accountId = `acct_1WriterTest${suffix}0000`;
    const orgId = `org_writers_${suffix}`;
    stack.sandbox.sandbox.addAccount({ id: accountId, name: 'Reconnect', counts: { ...FEW, charges: 30 } });
    stack.queues.sync.pause();
    await connectOrg(stack, orgId, { account: accountId });
    const first = await onlyConnection(stack.store, orgId);
    dieAfterWriteOf = 'charges';
    await expect(
      runSync(
        stack.syncDeps,
        { ...refOf(first as Connection), connectionId: first?.connectionId as string, reason: 'initial' },
        plenty,
      ),
    ).rejects.toThrow('died after its batch write');
    await connectOrg(stack, orgId, { account: accountId });
    stack.queues.sync.purge();
    const second = await onlyConnection(stack.store, orgId);
    expect(second?.connectionId).not.toBe(first?.connectionId);
    await expect(
      runSync(
        stack.syncDeps,
        { ...refOf(second as Connection), connectionId: second?.connectionId as string, reason: 'initial' },
        plenty,
      ),
    ).resolves.toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, orgId, accountId);
  });

  it('a partition older code wrote (no counts), which a webhook counted first: the first run counts afresh', async () => {
    const { accountId, orgId, job } = await synced({ ...FEW, charges: 20 });
    await documentClient(stack.dynamoClient).send(
      new DeleteCommand({
        TableName: LOCAL_TABLES.records,
        Key: recordKeys.counts({ orgId: orgId, mode: 'test', accountId: accountId }),
      }),
    );
    const event = stripeEvent('charge.succeeded', newCharge('ch_writers_migrated'), { account: accountId });
    await processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never });
    await expect(runSync(stack.syncDeps, { ...job, reason: 'nightly' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    const stored = (
      await stack.records.versions({ orgId: orgId, mode: 'test', accountId: accountId }, 'charges')
    ).size;
    expect((await stack.records.counts({ orgId: orgId, mode: 'test', accountId: accountId }))?.charges).toBe(
      stored,
    );
  });
});

describe('ties and API versions', () => {
  it.each([
    ['an old default API version', OLD_API_VERSION],
    ['the pinned version', undefined],
  ])(
    'two same-second events of a charge, in order (account at %s): the later state is stored',
    async (_l, apiVersion) => {
      const { accountId, orgId, job } = await synced(FEW, apiVersion ? { apiVersion } : {});
      const sandbox = stack.sandbox.sandbox;
      const charge = [...sandboxObjects(stack, accountId, 'charges').values()][0] as Record<string, unknown>;
      const data = sandbox.accountData(accountId, 'test');
      sandbox.advanceClock(5);
      for (const description of ['A', 'B']) {
        const changed = { ...charge, description };
        data?.collections.charges.update(changed as never);
        sandbox.emit(accountId, 'test', 'charge.updated', changed as never);
      }
      sandbox.advanceClock(-5);
      await settle(stack, ['webhooks']);
      stack.queues.sync.resume();
      await settle(stack, ['webhooks', 'sync']);
      await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
        outcome: 'completed',
      });
      expect(
        (
          await stack.records.get(
            { orgId: orgId, mode: 'test', accountId: accountId },
            'charges',
            charge.id as string,
          )
        )?.object.description,
      ).toBe('B');
    },
  );

  it('a webhook of the same second as an event the sync stored queues a sync, which stores the later state', async () => {
    const { accountId, orgId, job } = await synced(FEW);
    const sandbox = stack.sandbox.sandbox;
    const charge = [...sandboxObjects(stack, accountId, 'charges').values()][0] as Record<string, unknown>;
    const data = sandbox.accountData(accountId, 'test');
    sandbox.advanceClock(5);
    const second = sandbox.now();
    stack.queues.webhooks.pause();
    const a = { ...charge, description: 'A' };
    data?.collections.charges.update(a as never);
    sandbox.emit(accountId, 'test', 'charge.updated', a as never);
    await sandbox.webhooksIdle(10_000);
    stack.queues.webhooks.purge();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    stack.queues.sync.purge();
    stack.queues.webhooks.resume();
    sandbox.advanceClock(second - sandbox.now());
    const b = { ...charge, description: 'B' };
    data?.collections.charges.update(b as never);
    sandbox.emit(accountId, 'test', 'charge.updated', b as never);
    sandbox.advanceClock(-5);
    await settle(stack, ['webhooks']);
    expect(stack.queues.sync.depth).toBe(1);
    stack.queues.sync.resume();
    await settle(stack, ['sync']);
    expect(
      (
        await stack.records.get(
          { orgId: orgId, mode: 'test', accountId: accountId },
          'charges',
          charge.id as string,
        )
      )?.object.description,
    ).toBe('B');
  });

  it('an account at an old version: an invoice a webhook brought with more lines than embedded gets them all', async () => {
    const { accountId, orgId } = await synced({ ...FEW, invoices: 45 }, { apiVersion: OLD_API_VERSION });
    const long = [...sandboxObjects(stack, accountId, 'invoices').values()].find(
      (invoice) => (invoice.lines as { has_more: boolean }).has_more,
    ) as Record<string, unknown>;
    const data = stack.sandbox.sandbox.accountData(accountId, 'test');
    const all = data?.invoiceLinesOf(long.id as string) ?? [];
    const changed = { ...long, description: 'Changed after the sync' };
    data?.collections.invoices.update(changed as never);
    stack.sandbox.sandbox.advanceClock(5);
    stack.sandbox.sandbox.emit(accountId, 'test', 'invoice.updated', changed as never);
    stack.sandbox.sandbox.advanceClock(-5);
    await settle(stack, ['webhooks']);
    stack.queues.sync.resume();
    await settle(stack, ['sync']);
    const embedded = (long.lines as { data: unknown[] }).data.length;
    await expect(
      stack.records.lines(
        { orgId: orgId, mode: 'test', accountId: accountId },
        'invoices',
        long.id as string,
      ),
    ).resolves.toHaveLength(all.length - embedded);
  });
});
