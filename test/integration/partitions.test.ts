import { BatchWriteCommand, DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { recordKeys } from '../../shared/data/keys.js';
import type { Mode } from '../../shared/domain/connection.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { api, connectOrg, settle, startTestStack, type TestClock, tokenFor } from '../support/local-stack.js';
import { expectConverged } from '../support/sync.js';

jest.setTimeout(300_000);

/**
 * Records live in one partition per org, mode and account: test and live records of one
 * account never mix, and what older code stored with both modes in one partition moves into
 * each record's own mode's partition on the connection's next sync (issue 17).
 */
let stack: LocalStack & { clock: TestClock };
let n = 0;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25', SYNC_BUDGET_LIVE: '80' },
    { sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 }, deferSeconds: 1 } },
  );
});
afterAll(() => stack.close());

const plenty = () => 15 * 60_000;
/** The six resources older code synced: it never stored customers, prices or payouts. */
const COUNTS = {
  balance_transactions: 60,
  charges: 40,
  refunds: 5,
  invoices: 8,
  credit_notes: 2,
  disputes: 1,
  customers: 0,
  products: 0,
  prices: 0,
  coupons: 0,
  payouts: 0,
  subscriptions: 0,
};

async function connected(accountId: string, orgId: string, mode: Mode) {
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId, body: { mode } });
  stack.queues.sync.purge();
  stack.queues.sync.resume();
  // The org's connection to the account in this mode (it may have one in the other mode too).
  const connection = (await stack.store.listConnections(orgId)).find(
    (c) => c.accountId === accountId && c.livemode === (mode === 'live'),
  );
  if (!connection) throw new Error(`not connected in ${mode}`);
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  return job;
}

function newAccount() {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1PartTest${suffix}000000`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Partition ${suffix}`, counts: COUNTS });
  return { accountId, orgId: `org_part_${suffix}` };
}

const db = () => documentClient(stack.dynamoClient);

async function partitionItems(pk: string) {
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: LOCAL_TABLES.records,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function writeAll(items: Array<Record<string, unknown>>) {
  for (let i = 0; i < items.length; i += 25) {
    await db().send(
      new BatchWriteCommand({
        RequestItems: {
          [LOCAL_TABLES.records]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
        },
      }),
    );
  }
}

async function deleteAll(items: Array<Record<string, unknown>>) {
  for (let i = 0; i < items.length; i += 25) {
    await db().send(
      new BatchWriteCommand({
        RequestItems: {
          [LOCAL_TABLES.records]: items
            .slice(i, i + 25)
            .map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })),
        },
      }),
    );
  }
}

/**
 * Items as older code wrote them: in the org and account's one partition, without `mode`, and
 * without the feed (no feed item, no positions: older code had none).
 */
function asLegacy(items: Array<Record<string, unknown>>, orgId: string, accountId: string) {
  const notFeed = items.filter((item) => item.sk !== '_feed');
  return notFeed.map(({ mode: _mode, feedPk: _feedPk, seq: _seq, firstSeenAt: _first, ...rest }) => ({
    ...rest,
    pk: recordKeys.legacyPartition(orgId, accountId),
    orgId,
  }));
}

/**
 * A live org's partition laid out as older code kept it: its live records and the test
 * records of the same account (synced by another org), one counts item for both.
 */
async function mixedLegacy() {
  const { accountId, orgId } = newAccount();
  const liveJob = await connected(accountId, orgId, 'live');
  await runSync(stack.syncDeps, liveJob, plenty);
  const testOrg = `${orgId}_t`;
  await runSync(stack.syncDeps, await connected(accountId, testOrg, 'test'), plenty);
  const testItems = (
    await partitionItems(recordKeys.partition({ orgId: testOrg, mode: 'test', accountId }))
  ).filter((i) => i.sk !== '_counts' && i.sk !== '_feed');
  const liveItems = await partitionItems(recordKeys.partition({ orgId, mode: 'live', accountId }));
  const legacy = recordKeys.legacyPartition(orgId, accountId);
  const movedIn = [...testItems, ...liveItems.filter((i) => i.sk !== '_counts' && i.sk !== '_feed')];
  await writeAll([...asLegacy(movedIn, orgId, accountId), { pk: legacy, sk: '_counts', n_charges: 12345 }]);
  await deleteAll(liveItems);
  return { accountId, orgId, liveJob, testItems, movedIn, legacy };
}

describe('one partition per org, mode and account', () => {
  it('keeps test and live records of one account apart when an org moves from test to live', async () => {
    const { accountId, orgId } = newAccount();
    await runSync(stack.syncDeps, await connected(accountId, orgId, 'test'), plenty);
    await expectConverged(stack, orgId, accountId, { mode: 'test' });
    const testItems = await partitionItems(recordKeys.partition({ orgId, mode: 'test', accountId }));
    expect(testItems.length).toBeGreaterThan(100);

    // The same org connects the same account in live mode: a new connection, its own partition.
    await runSync(stack.syncDeps, await connected(accountId, orgId, 'live'), plenty);
    await expectConverged(stack, orgId, accountId, { mode: 'live' });
    const liveItems = await partitionItems(recordKeys.partition({ orgId, mode: 'live', accountId }));
    const records = (items: Array<Record<string, unknown>>) =>
      items.filter((i) => typeof i.objectId === 'string' && i.parentId === undefined);
    expect(records(liveItems).length).toBeGreaterThan(0);
    // Every record is in its mode's partition; those whose objects say their mode say live.
    const says = (i: Record<string, unknown>) =>
      ['charges', 'invoices', 'credit_notes', 'disputes'].includes(i.resource as string);
    expect(records(liveItems).every((i) => i.mode === 'live' && (!says(i) || i.livemode === true))).toBe(
      true,
    );
    // The test records are still there, untouched, and none of them is in the live partition.
    const testAfter = await partitionItems(recordKeys.partition({ orgId, mode: 'test', accountId }));
    expect(records(testAfter).every((i) => i.mode === 'test' && (!says(i) || i.livemode === false))).toBe(
      true,
    );
    expect(records(testAfter).length).toBe(records(testItems).length);
    const liveIds = new Set(liveItems.map((i) => i.sk));
    expect(records(testAfter).some((i) => liveIds.has(i.sk))).toBe(false);
    // Nothing in the layout older code wrote.
    expect(await partitionItems(recordKeys.legacyPartition(orgId, accountId))).toEqual([]);
  });
});

describe('migrating a table older code wrote', () => {
  it('moves records of both modes, their line pages and their counts into their own partitions on the next sync, and converges', async () => {
    // Both modes synced, then laid out as older code kept them.
    const { accountId, orgId, liveJob, testItems, movedIn, legacy } = await mixedLegacy();
    const testScope = { orgId, mode: 'test' as const, accountId };
    const liveScope = { orgId, mode: 'live' as const, accountId };
    expect(movedIn.filter((i) => typeof i.parentId === 'string').length).toBeGreaterThan(0);
    expect((await partitionItems(legacy)).length).toBe(movedIn.length + 1);
    expect(await partitionItems(recordKeys.partition(liveScope))).toEqual([]);

    // A run with no time left moves nothing and passes the move on to the next one.
    stack.queues.sync.pause();
    await expect(runSync(stack.syncDeps, { ...liveJob, reason: 'nightly' }, () => 0)).resolves.toMatchObject({
      outcome: 'continued',
    });
    expect((await partitionItems(legacy)).length).toBe(movedIn.length + 1);
    stack.queues.sync.purge();
    stack.queues.sync.resume();
    // The live connection's next run moves everything and counts its partition afresh.
    await runSync(stack.syncDeps, { ...liveJob, reason: 'continue' }, plenty);
    expect(await partitionItems(legacy)).toEqual([]);
    await expectConverged(stack, orgId, accountId, { mode: 'live' });
    // The test records went to the org's test partition, lines with their invoices; what
    // could not be told (a balance transaction whose source is not stored) was kept aside.
    const movedTest = await partitionItems(recordKeys.partition(testScope));
    const aside = await partitionItems(recordKeys.unplacedPartition(orgId, accountId));
    expect(aside.every((i) => i.resource === 'balance_transactions')).toBe(true);
    // Older code synced no payouts: their balance transactions cannot be placed here.
    expect(aside.length).toBeGreaterThan(0);
    expect(
      [...movedTest, ...aside.filter((i) => testItems.some((t) => t.sk === i.sk && t.version === i.version))]
        .map((i) => i.sk)
        .sort(),
    ).toEqual(
      testItems
        .filter((i) => i.sk !== '_counts')
        .map((i) => i.sk)
        .sort(),
    );
    expect(movedTest.every((i) => i.mode === 'test')).toBe(true);
    expect(movedTest.filter((i) => i.resource === 'charges')).toHaveLength(COUNTS.charges);
    expect(movedTest.filter((i) => i.resource === 'refunds')).toHaveLength(COUNTS.refunds);
    // Run again: nothing left to move, and the result is the same.
    await runSync(stack.syncDeps, { ...liveJob, reason: 'nightly' }, plenty);
    await expectConverged(stack, orgId, accountId, { mode: 'live' });
  });

  it('finishes a move that died half-way, and never puts an older copy over a newer record', async () => {
    const { accountId, orgId } = newAccount();
    const job = await connected(accountId, orgId, 'test');
    await runSync(stack.syncDeps, job, plenty);
    const scope = { orgId, mode: 'test' as const, accountId };
    const items = (await partitionItems(recordKeys.partition(scope))).filter(
      (i) => i.sk !== '_counts' && i.sk !== '_feed',
    );
    const legacy = recordKeys.legacyPartition(orgId, accountId);
    // Half moved already (copied and deleted), half still in the old layout, one of those with
    // an older version than what its new place holds.
    const half = items.filter((_, i) => i % 2 === 0);
    await writeAll(asLegacy(half, orgId, accountId));
    const older = items.find((i) => i.resource === 'charges' && half.includes(i));
    if (!older) throw new Error('no charge to age');
    const { mode: _mode, ...olderRest } = older;
    await writeAll([{ ...olderRest, pk: legacy, version: '000000000001:0:000000000001:0000000000000000' }]);
    await expect(stack.records.migrateLegacyPartition(orgId, accountId, 'test')).resolves.toMatchObject({
      moved: half.length,
    });
    expect(await partitionItems(legacy)).toEqual([]);
    expect((await stack.records.get(scope, 'charges', older.objectId as string))?.version).toBe(
      older.version,
    );
    await expect(stack.records.migrateLegacyPartition(orgId, accountId, 'test')).resolves.toEqual({
      moved: 0,
      unplaced: [],
      done: true,
    });
    await runSync(stack.syncDeps, { ...job, reason: 'nightly' }, plenty);
    await expectConverged(stack, orgId, accountId, { mode: 'test' });
  });

  it('a move stopped again and again (the run’s deadline) places every item exactly as one uninterrupted move does', async () => {
    const { accountId, orgId } = newAccount();
    const live = await connected(accountId, `${orgId}_l`, 'live');
    await runSync(stack.syncDeps, live, plenty);
    const test = await connected(accountId, `${orgId}_t`, 'test');
    await runSync(stack.syncDeps, test, plenty);
    const both = [
      ...(await partitionItems(recordKeys.partition({ orgId: `${orgId}_l`, mode: 'live', accountId }))),
      ...(await partitionItems(recordKeys.partition({ orgId: `${orgId}_t`, mode: 'test', accountId }))),
    ].filter((i) => i.sk !== '_counts' && i.sk !== '_feed');
    // The same mixed partition for two orgs: one moves at once, the other five items at a time.
    const placement = async (org: string) => {
      const out = new Map<string, string>();
      for (const [where, pk] of [
        ['test', recordKeys.partition({ orgId: org, mode: 'test', accountId })],
        ['live', recordKeys.partition({ orgId: org, mode: 'live', accountId })],
        ['aside', recordKeys.unplacedPartition(org, accountId)],
      ] as const)
        for (const item of await partitionItems(pk)) out.set(item.sk as string, where);
      return out;
    };
    await writeAll(asLegacy(both, `${orgId}_a`, accountId));
    await writeAll(asLegacy(both, `${orgId}_b`, accountId));
    const once = await stack.records.migrateLegacyPartition(`${orgId}_a`, accountId, 'live');
    expect(once.done).toBe(true);
    let attempts = 0;
    for (;;) {
      let budget = 5;
      const step = await stack.records.migrateLegacyPartition(
        `${orgId}_b`,
        accountId,
        'live',
        () => budget-- <= 0,
      );
      attempts++;
      if (step.done) break;
      if (attempts > both.length) throw new Error('the move makes no progress');
    }
    expect(attempts).toBeGreaterThan(10);
    const a = await placement(`${orgId}_a`);
    const b = await placement(`${orgId}_b`);
    expect(a.size).toBe(both.length);
    expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));
    expect(new Set(a.values())).toEqual(new Set(['test', 'live', 'aside']));
  });
});

/** A records store whose DynamoDB client runs `before` ahead of every command (it may throw: a worker that died). */
function storeWith(before: (command: unknown) => Promise<void> | void) {
  const client = db();
  // Keeps the client's prototype: paginateQuery checks it is a DynamoDBDocumentClient.
  const wrapped = Object.create(client) as typeof client;
  wrapped.send = (async (command: unknown, ...rest: unknown[]) => {
    await before(command);
    return (client.send as (...a: unknown[]) => Promise<unknown>).call(client, command, ...rest);
  }) as typeof client.send;
  return new DynamoRecordsStore(wrapped, LOCAL_TABLES.records);
}

class Died extends Error {}
const dieAtFirstPut = (prefix: string) => {
  let died = false;
  return (command: unknown) => {
    if (died || !(command instanceof PutCommand)) return;
    const sk = String(command.input.Item?.sk ?? '');
    if (sk.startsWith(prefix)) {
      died = true;
      throw new Died(`the worker died moving ${sk}`);
    }
  };
};

describe('the move resumed after a worker died', () => {
  it('puts no test-mode refund into the live partition when the move died after the charges moved', async () => {
    const { accountId, orgId, liveJob, testItems } = await mixedLegacy();
    // It dies moving the first refund: the next run must decide every record as the first did.
    await expect(
      storeWith(dieAtFirstPut('refunds#')).migrateLegacyPartition(orgId, accountId, 'live'),
    ).rejects.toThrow(Died);
    await runSync(stack.syncDeps, { ...liveJob, reason: 'nightly' }, plenty);
    const testRefunds = new Set(testItems.filter((i) => i.resource === 'refunds').map((i) => i.sk));
    expect(testRefunds.size).toBeGreaterThan(0);
    const live = await partitionItems(recordKeys.partition({ orgId, mode: 'live', accountId }));
    expect(live.filter((i) => testRefunds.has(i.sk)).map((i) => i.sk)).toEqual([]);
  });

  it('the live partition is complete after a move that died once the unplaced balance transactions were put aside', async () => {
    const { accountId, orgId, liveJob } = await mixedLegacy();
    // Balance transactions of payouts went aside, then the worker died: the next run finds
    // nothing unplaced, so their resource must have been arranged to be read again already.
    // (As in runSync: the resources of what goes aside are read again, arranged before any move.)
    await expect(
      storeWith(dieAtFirstPut('charges#')).migrateLegacyPartition(
        orgId,
        accountId,
        'live',
        () => false,
        async (resources) => {
          for (const resource of resources) await stack.syncDeps.checkpoints.reset(refOf(liveJob), resource);
        },
      ),
    ).rejects.toThrow(Died);
    expect((await partitionItems(recordKeys.unplacedPartition(orgId, accountId))).length).toBeGreaterThan(0);
    await runSync(stack.syncDeps, { ...liveJob, reason: 'nightly' }, plenty);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: false });
  });
});

describe('counts before the first run after the deploy', () => {
  it('a webhook before the first run does not bring the status counts near zero', async () => {
    const { accountId, orgId } = newAccount();
    const job = await connected(accountId, orgId, 'live');
    await runSync(stack.syncDeps, job, plenty);
    // What Stripe has, per resource (the lines of its invoices and credit notes too).
    const truth = (await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: false }))
      .counts.oracle;
    // Laid out as older code kept it (one partition, its counts item).
    const scope = { orgId, mode: 'live' as const, accountId };
    const items = await partitionItems(recordKeys.partition(scope));
    await writeAll(asLegacy(items, orgId, accountId));
    await deleteAll(items);
    const statusCounts = async () => {
      const token = await tokenFor(stack, orgId);
      const status = await api(stack, 'GET', '/v1/integrations/stripe/status', { token });
      return (status.json as { sync: { counts: Record<string, number> } }).sync.counts;
    };
    expect(await statusCounts()).toEqual(truth); // the connection's view of the last run
    // New code deployed; a charge arrives by webhook before the connection's next sync.
    stack.queues.sync.pause();
    stack.sandbox.sandbox.createActivity(accountId, 'live', 'charge');
    await settle(stack);
    stack.queues.sync.purge();
    stack.queues.sync.resume();
    const after = await statusCounts();
    expect(after.charges).toBeGreaterThanOrEqual(truth.charges as number);
    expect(after.balance_transactions).toBeGreaterThanOrEqual(truth.balance_transactions as number);
  });
});

describe('the move against a writer of the old layout', () => {
  it('never deletes a legacy item newer than the copy it made (an older worker still writing during the deploy)', async () => {
    const { accountId, orgId } = newAccount();
    const job = await connected(accountId, orgId, 'test');
    await runSync(stack.syncDeps, job, plenty);
    const scope = { orgId, mode: 'test' as const, accountId };
    const items = (await partitionItems(recordKeys.partition(scope))).filter(
      (i) => i.sk !== '_counts' && i.sk !== '_feed',
    );
    const legacy = recordKeys.legacyPartition(orgId, accountId);
    await deleteAll(items);
    await writeAll(asLegacy(items, orgId, accountId));
    const target = items.find((i) => i.resource === 'charges') as Record<string, unknown>;
    const newer = '999999999999:1:999999999999:0000000000000000';
    let raced = false;
    const store = storeWith(async (command) => {
      if (raced || !(command instanceof DeleteCommand) || command.input.Key?.sk !== target.sk) return;
      raced = true;
      // Between the move's copy and its delete, old code writes a newer version there.
      const { mode: _m, ...rest } = target;
      await db().send(
        new PutCommand({ TableName: LOCAL_TABLES.records, Item: { ...rest, pk: legacy, version: newer } }),
      );
    });
    await store.migrateLegacyPartition(orgId, accountId, 'test');
    expect(raced).toBe(true);
    const stored = [
      ...(await partitionItems(legacy)),
      ...(await partitionItems(recordKeys.partition(scope))),
    ].filter((i) => i.sk === target.sk);
    expect(stored.map((i) => i.version)).toContain(newer);
  });
});
