import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { DynamoCheckpointStore } from '../../shared/adapters/dynamodb/checkpoint-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { LEGACY_SLOT, refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { RecordScope, RecordsStore, RecordWrite } from '../../shared/ports/records-store.js';
import { RECORD_RESOURCES, recordVersion, resourceByName } from '../../shared/records/registry.js';
import { FLUSH_RECORDS } from '../../shared/sync/backfill.js';
import type { Checkpoint } from '../../shared/sync/checkpoint.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { onlyConnection } from '../support/connections.js';
import { connectOrg, settle, startTestStack, type TestClock } from '../support/local-stack.js';
import { expectConverged } from '../support/sync.js';
import { wrapRecords } from '../support/wrap-records.js';

/**
 * One writer per connection while a run holds its lease: a backfill that knows what is stored
 * (a first one: nothing, or what a few webhooks wrote) writes without reading first, and
 * stores twenty pages at a time. What it relies on, and what it must still get right: exact
 * records and counts after a crash between its writes and its checkpoint, and after a webhook
 * that was already writing when the run began.
 */
jest.setTimeout(300_000);

let stack: LocalStack & { clock: TestClock };
/** While set, a webhook's single write waits for it (the test lets it go at a chosen moment). */
let webhookGate: Promise<void> | undefined;
let webhookWaiting: ((resource: string) => void) | undefined;
let onKnown: ((resource: string) => Promise<void>) | undefined;
let failCounts: ((scope: RecordScope) => boolean) | undefined;
let n = 0;

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '100' },
    {
      wrap: {
        records: (records: RecordsStore): RecordsStore =>
          wrapRecords(records, {
            put: async (...args) => {
              if (webhookGate) {
                webhookWaiting?.(args[0].resource);
                await webhookGate;
              }
              return records.put(...args);
            },
            knownVersions: async (scope, resource, limit) => {
              const known = await records.knownVersions(scope, resource, limit);
              await onKnown?.(resource);
              return known;
            },
            addCounts: async (scope, deltas) => {
              if (failCounts?.(scope)) throw new Error('the worker died here');
              return records.addCounts(scope, deltas);
            },
          }),
      },
    },
  );
});
afterAll(() => stack.close());
afterEach(() => {
  webhookGate = undefined;
  webhookWaiting = undefined;
  onKnown = undefined;
  failCounts = undefined;
  stack.queues.webhooks.resume();
  stack.queues.sync.resume();
});

const plenty = () => 15 * 60_000;

async function connectedAccount(counts: Record<string, number>) {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1OneWriter${suffix}`.padEnd(24, '0');
  const orgId = `org_one_writer_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `One writer ${suffix}`, counts });
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId });
  const connection = await onlyConnection(stack.store, orgId);
  if (!connection) throw new Error('not connected');
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  const scope: RecordScope = { orgId, mode: 'test', accountId };
  return { accountId, orgId, job, scope };
}

/** Counts the DynamoDB requests the sync makes, by command and by the item they touch. */
function meter() {
  const seen: Array<{ command: string; input: string }> = [];
  const name = `test:meter-${++n}`;
  stack.dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push({
        command: String(context.commandName),
        input: JSON.stringify((args as { input: unknown }).input),
      });
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { seen, stop: () => stack.dynamoClient.middlewareStack.remove(name) };
}

describe('the records store, written by one writer that knows what is stored', () => {
  const charges = resourceByName('charges');
  const scopeOf = (accountId: string): RecordScope => ({
    orgId: 'org_one_writer_store',
    mode: 'test',
    accountId,
  });
  const write = (scope: RecordScope, id: string, observedAt: number, deleted = false): RecordWrite => {
    if (!charges) throw new Error('no charges resource');
    const object = { id, object: 'charge', created: 1_790_000_000, amount: observedAt, livemode: false };
    return {
      ...scope,
      resource: 'charges',
      object,
      version: recordVersion(charges, object, { at: observedAt, by: 'read' }),
      source: 'sync',
      ...(deleted ? { deleted } : {}),
    };
  };
  /** A store whose client counts BatchGetItems and can fail the next BatchWriteItem. */
  function countingStore() {
    const db = documentClient(stack.dynamoClient) as DynamoDBDocumentClient;
    const send = db.send.bind(db) as (command: unknown) => Promise<unknown>;
    const calls = { reads: 0, failNextWrite: false };
    const wrapped = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: unknown) => {
          if (command instanceof BatchGetCommand) calls.reads++;
          if (
            (command instanceof BatchWriteCommand || command instanceof BatchWriteItemCommand) &&
            calls.failNextWrite
          ) {
            calls.failNextWrite = false;
            throw new Error('InternalServerError');
          }
          return send(command);
        };
      },
    });
    return { store: new DynamoRecordsStore(wrapped, LOCAL_TABLES.records, () => new Date(), 1), calls };
  }

  it('reads what is stored once when it is little, and none of it when there is more', async () => {
    const { store } = countingStore();
    const scope = scopeOf('acct_1OneWriterKnown000000');
    await expect(store.knownVersions(scope, 'charges')).resolves.toMatchObject({ versions: new Map() });
    await store.putMany([
      write(scope, 'ch_k1', 1000),
      write(scope, 'ch_k2', 1000, true),
      write(scope, 'ch_k3', 1000),
    ]);
    const known = await store.knownVersions(scope, 'charges', 3);
    expect(known?.valid).toBe(true);
    expect([...(known?.versions.keys() ?? [])].map((key) => key.split('#').at(-1)).sort()).toEqual([
      'ch_k1',
      'ch_k2',
      'ch_k3',
    ]);
    expect([...(known?.versions.values() ?? [])].filter((v) => v.deleted)).toHaveLength(1);
    // More than the limit: unknown, and the writer reads before each batch as before.
    await expect(store.knownVersions(scope, 'charges', 2)).resolves.toBeUndefined();
    // Another resource's prefix holds none of these.
    await expect(store.knownVersions(scope, 'refunds')).resolves.toMatchObject({ versions: new Map() });
  });

  it('writes with what it knows and reads nothing first; counts, skips and tallies as the read would', async () => {
    const { store, calls } = countingStore();
    const scope = scopeOf('acct_1OneWriterWrites00000');
    // Written before the run: one newer than the run will see, one older, one deleted.
    await store.putMany([
      write(scope, 'ch_w0', 5000),
      write(scope, 'ch_w1', 1000),
      write(scope, 'ch_w2', 1000, true),
    ]);
    const known = await store.knownVersions(scope, 'charges');
    if (!known) throw new Error('expected the few stored records to be known');
    calls.reads = 0;
    const batch = Array.from({ length: 60 }, (_, i) => write(scope, `ch_w${i}`, 3000));
    const first = await store.putMany(batch, undefined, known);
    expect(calls.reads).toBe(0);
    // ch_w0 is stored newer (stale); ch_w1 updated; ch_w2 comes back from deleted; 57 are new.
    expect(first).toMatchObject({ written: 59, created: 57, stale: 1, deltas: { charges: 58 } });
    expect(known.versions.size).toBe(60);
    // The same again: all stale by what it knows, nothing read, nothing written.
    const again = await store.putMany(batch, undefined, known);
    expect(again).toMatchObject({ written: 0, stale: 60, batchCalls: 0 });
    expect(calls.reads).toBe(0);
    // What it knows is what a read finds.
    const read = await store.knownVersions(scope, 'charges', 100);
    expect(new Map([...(read?.versions ?? [])].map(([k, v]) => [k, v.version]))).toEqual(
      new Map([...known.versions].map(([k, v]) => [k, v.version])),
    );
    // The counts a read would have given: 59 not deleted.
    await store.addCounts(scope, first.deltas);
    await expect(store.recountAll(scope)).resolves.toMatchObject({ charges: 60 });
  });

  it('after a write of it fails, what it knew is given up: the next batch reads first', async () => {
    const { store, calls } = countingStore();
    const scope = scopeOf('acct_1OneWriterFails00000');
    const known = await store.knownVersions(scope, 'charges');
    if (!known) throw new Error('expected an empty partition to be known');
    calls.failNextWrite = true;
    await expect(
      store.putMany(
        Array.from({ length: 30 }, (_, i) => write(scope, `ch_f${i}`, 1000)),
        undefined,
        known,
      ),
    ).rejects.toThrow('InternalServerError');
    expect(known.valid).toBe(false);
    calls.reads = 0;
    const retry = await store.putMany(
      Array.from({ length: 30 }, (_, i) => write(scope, `ch_f${i}`, 1000)),
      undefined,
      known,
    );
    expect(calls.reads).toBe(1);
    // What of the failed batch had landed (a chunk in flight beside the one that failed) is
    // stored already, and neither written nor counted again.
    expect(retry.written + retry.stale).toBe(30);
    expect(retry.written).toBeGreaterThanOrEqual(25);
    expect(retry.created).toBe(retry.written);
    expect((await store.knownVersions(scope, 'charges'))?.versions.size).toBe(30);
  });

  it('counts every resource afresh in one read of the partition, as counting each would', async () => {
    const { store } = countingStore();
    const scope = scopeOf('acct_1OneWriterRecount000');
    await store.putMany(Array.from({ length: 7 }, (_, i) => write(scope, `ch_r${i}`, 1000, i === 0)));
    await store.addCounts(scope, { charges: 40, refunds: 3 });
    const all = await store.recountAll(scope);
    expect(all).toMatchObject({ charges: 6, refunds: 0 });
    expect(Object.keys(all).sort()).toEqual([...RECORD_RESOURCES].sort());
    for (const name of RECORD_RESOURCES) await expect(store.recount(scope, name)).resolves.toBe(all[name]);
    await expect(store.counts(scope)).resolves.toEqual(all);
  });

  it("reads a connection's checkpoints in one go: its own slot's only, never another's", async () => {
    const checkpoints = new DynamoCheckpointStore(documentClient(stack.dynamoClient), LOCAL_TABLES.service);
    const orgId = 'org_one_writer_checkpoints';
    const at = (slot: string, resource: string): Checkpoint =>
      ({
        orgId,
        slot,
        resource,
        connectionId: `conn_${slot}`,
        phase: 'incremental',
        snapshotAt: 1,
        slices: [],
        cursor: null,
        since: 1,
        total: 1,
        updatedAt: '',
      }) as unknown as Checkpoint;
    const slot = 'stripe#test#acct_1OneWriterSlot00000000';
    for (const c of [
      at(slot, 'charges'),
      at(slot, 'refunds'),
      at(LEGACY_SLOT, 'charges'),
      at('stripe#test#acct_other', 'invoices'),
    ])
      await checkpoints.put(c);
    const mine = await checkpoints.all({ orgId, slot });
    expect([...mine.keys()].sort()).toEqual(['charges', 'refunds']);
    expect(mine.get('charges')?.connectionId).toBe(`conn_${slot}`);
    const legacy = await checkpoints.all({ orgId, slot: LEGACY_SLOT });
    expect([...legacy.keys()]).toEqual(['charges']);
    expect(legacy.get('charges')?.connectionId).toBe(`conn_${LEGACY_SLOT}`);
  });
});

describe('a first sync, its only writer', () => {
  it('writes without reading first, and stores twenty pages at a time: one checkpoint and one count update each', async () => {
    const records = 4500;
    const { accountId, orgId, job } = await connectedAccount({ balance_transactions: records, charges: 20 });
    const m = meter();
    // One slice (as at Stripe's speed on a quiet machine): a loaded machine's slow local pages
    // must not split it into smaller stores.
    const oneSlice = { ...stack.syncDeps, config: { ...stack.syncDeps.config, maxSlices: 1 } };
    try {
      await expect(runSync(oneSlice, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    } finally {
      m.stop();
    }
    const mine = m.seen.filter((r) => r.input.includes(accountId) || r.input.includes(orgId));
    // Nothing read before writing the backfill's pages (lines and events still read: conflicts
    // are possible there).
    const guardReads = mine.filter(
      (r) =>
        r.command === 'BatchGetItemCommand' &&
        (r.input.includes('"sk":"balance_transactions#') || r.input.includes('"sk":"charges#')),
    );
    expect(guardReads).toHaveLength(0);
    const stores = Math.ceil(records / FLUSH_RECORDS);
    const btCheckpoints = mine.filter(
      (r) =>
        r.command === 'PutItemCommand' &&
        r.input.includes('CURSOR#') &&
        r.input.includes('"resource":"balance_transactions"'),
    );
    // One per store but the last (which the backfill's end saves), that end, and the incremental pass's.
    expect(btCheckpoints.length).toBeGreaterThanOrEqual(stores);
    expect(btCheckpoints.length).toBeLessThanOrEqual(stores + 1);
    const countUpdates = mine.filter(
      (r) =>
        r.command === 'UpdateItemCommand' &&
        r.input.includes('n_balance_transactions') &&
        r.input.includes('ADD'),
    );
    expect(countUpdates).toHaveLength(stores);
    const writes = mine.filter(
      (r) =>
        r.command === 'BatchWriteItemCommand' && /"resource":(\{"S":)?"balance_transactions"/.test(r.input),
    ).length;
    expect(writes).toBeGreaterThanOrEqual(Math.ceil(records / 25));
    expect(writes).toBeLessThanOrEqual(Math.ceil(records / 25) + 2);
    await expectConverged(stack, orgId, accountId);
  });

  it('dies between a store and its count: the next run counts afresh and ends exact', async () => {
    const { accountId, orgId, job, scope } = await connectedAccount({
      balance_transactions: 2500,
      charges: 30,
    });
    let failed = 0;
    failCounts = (s) => s.accountId === scope.accountId && failed++ === 0;
    const first = await runSync(stack.syncDeps, job, plenty).catch((error: Error) => ({
      outcome: error.message,
    }));
    expect(failed).toBeGreaterThan(0);
    expect(first.outcome).not.toBe('completed');
    failCounts = undefined;
    stack.queues.sync.purge();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await expectConverged(stack, orgId, accountId);
  });

  it('a webhook already writing when the run began (after it read what was stored) leaves the counts in doubt; the run it asks for makes them exact', async () => {
    const { accountId, orgId, job } = await connectedAccount({ charges: 30, balance_transactions: 10 });
    stack.queues.sync.purge();
    // A refund in Stripe: its webhook is processed at once, and its write waits.
    let waiting!: (resource: string) => void;
    const reached = new Promise<string>((resolve) => {
      waiting = resolve;
    });
    let release!: () => void;
    webhookGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    webhookWaiting = waiting;
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    const resource = await reached;
    expect(resource).toBe('refunds');
    // Older than the run's snapshot (a second before it starts), the refund is in its backfill.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    // The run takes the lease after the webhook read the connection (no run then); once the run
    // has read what is stored of refunds (not the new one), the webhook's write goes on, and
    // lands before the run writes the same refund, taking it for new.
    let opened = false;
    onKnown = async (known) => {
      if (known !== resource || opened) return;
      opened = true;
      webhookGate = undefined;
      release();
      await stack.queues.webhooks.idle(60_000);
    };
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    expect(opened).toBe(true);
    // The webhooks asked for another run (the one the connect queued is dropped: only theirs).
    expect(stack.queues.sync.depth).toBe(1);
    // That run counts afresh.
    stack.queues.sync.resume();
    await settle(stack, ['webhooks', 'sync']);
    await expectConverged(stack, orgId, accountId);
  });
});
