import { randomBytes, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describeReport, reconcile, sandboxTruth } from '../../local/reconcile.js';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import {
  DynamoRecordsStore,
  FEED_BLOCK_MAX_MS,
  FEED_SETTLE_MS,
  FeedBlockExpiredError,
  RecordTooLargeError,
} from '../../shared/adapters/dynamodb/records-store.js';
import { recordKeys } from '../../shared/data/keys.js';
import { newFullPass, refOf } from '../../shared/domain/connection.js';
import { EVENT_SCHEMAS } from '../../shared/events/catalog.js';
import type { RecordScope, RecordsStore, RecordWrite } from '../../shared/ports/records-store.js';
import { newTally } from '../../shared/ports/records-store.js';
import { encodeCursor } from '../../shared/records/feed-cursor.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { onlyConnection } from '../support/connections.js';
import { FeedMirror, feedPage } from '../support/feed.js';
import { api, connectOrg, settle, startTestStack, tokenFor } from '../support/local-stack.js';
import { connectNewAccount, expectConverged, listRequests, sandboxObjects } from '../support/sync.js';
import { stripeEvent } from '../support/webhooks.js';

/**
 * The change feed and the records API: every write gives a record a new position in its
 * connection's feed; a consumer that reads from cursor zero and follows ends equal to the
 * oracle's view of Stripe; no write is skipped, whatever order concurrent writers land in;
 * and no reader sees another org's records or reads with another connection's cursor.
 */
jest.setTimeout(240_000);

let stack: LocalStack;
const plenty = () => 15 * 60_000;
const settled = () => new Promise((resolve) => setTimeout(resolve, FEED_SETTLE_MS + 200));
const COUNTS = {
  balance_transactions: 60,
  charges: 30,
  refunds: 4,
  invoices: 6,
  credit_notes: 2,
  disputes: 2,
  customers: 6,
  products: 2,
  prices: 3,
  coupons: 1,
  subscriptions: 2,
};

beforeAll(async () => {
  stack = await startTestStack({}, { sync: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } } });
});
afterAll(() => stack.close());

const member = (orgId: string) => tokenFor(stack, orgId, 'member');
const serviceToken = (scope = 'stripe-connector/records.read') =>
  stack.issuer.issue({ sub: 'defrr-backend', scope });

async function mirrorOf(orgId: string, query: Record<string, string> = {}) {
  const token = await member(orgId);
  return new FeedMirror((after) => feedPage(stack, token, { limit: '37', ...query, after }));
}

async function expectMirrorConverged(mirror: FeedMirror, orgId: string, accountId: string) {
  const scope: RecordScope = { orgId, mode: 'test', accountId };
  const report = await reconcile(
    mirror.asStore(scope) as unknown as RecordsStore,
    sandboxTruth(stack.sandbox.sandbox, accountId, 'test'),
    scope,
  );
  if (!report.ok) throw new Error(`the feed's consumer has not converged:\n${describeReport(report)}`);
  // Byte for byte what the store holds (which `expectConverged` holds to Stripe).
  for (const record of mirror.records.values()) {
    const stored = await stack.records.get(scope, record.resource, record.id);
    expect(JSON.stringify(record.object)).toBe(JSON.stringify(stored?.object));
    expect(record.action === 'deleted').toBe(stored?.deleted);
  }
}

describe('a consumer of the records API', () => {
  it('rebuilds everything from cursor zero, follows webhooks, syncs and deletions, and ends equal to the oracle', async () => {
    const { orgId, accountId, job } = await connectNewAccount(stack, 'FeedFollow', COUNTS);
    const before = stack.bus.events.length;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await settled();
    const mirror = await mirrorOf(orgId);
    const first = await mirror.follow();
    expect(first).toBeGreaterThan(100);
    expect(mirror.pages).toBeGreaterThan(3);
    await expectMirrorConverged(mirror, orgId, accountId);
    // Nothing was deleted; a record the run wrote twice (read again by its catch-up) is "updated".
    for (const r of mirror.records.values()) {
      expect(r.action === 'added' ? r.first_seen_at === r.last_modified_at : r.action === 'updated').toBe(
        true,
      );
      expect(r.first_seen_at <= r.last_modified_at).toBe(true);
    }
    // The run said what changed, and where to pull it from.
    const told = stack.bus.events.slice(before).filter((e) => e['detail-type'] === 'Stripe Records Changed');
    expect(told.length).toBeGreaterThan(0);
    const changed = told.map((e) => EVENT_SCHEMAS['Stripe Records Changed'].parse(e.detail));
    expect(changed.every((c) => c.source === 'sync' && c.orgId === orgId)).toBe(true);
    const added = changed.reduce((sum, c) => sum + c.counts.added, 0);
    expect(added).toBe(first);
    expect(first).toBe(mirror.records.size);

    // Changes by webhook, a deletion among them (a customer deleted in Stripe), then a sync.
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'refund');
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_deleted');
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'invoice_paid');
    await settle(stack);
    await runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty);
    await settled();
    const more = await mirror.follow();
    expect(more).toBeGreaterThan(0);
    await expectConverged(stack, orgId, accountId);
    await expectMirrorConverged(mirror, orgId, accountId);
    const deleted = [...mirror.records.values()].filter((r) => r.action === 'deleted');
    expect(deleted.some((r) => r.resource === 'customers')).toBe(true);
    for (const r of deleted) expect(r.deleted_at).toBe(r.last_modified_at);
    const updated = [...mirror.records.values()].filter((r) => r.action === 'updated');
    expect(updated.length).toBeGreaterThan(0);
    for (const r of updated) expect(r.first_seen_at < r.last_modified_at).toBe(true);
    // A webhook's write was told as it landed.
    const byWebhook = stack.bus.events
      .slice(before)
      .filter((e) => e['detail-type'] === 'Stripe Records Changed' && e.detail.source === 'webhook');
    expect(byWebhook.length).toBeGreaterThan(0);

    // Nothing more: an empty page at the same cursor, and no has_more.
    const idle = await feedPage(stack, await member(orgId), { after: mirror.cursor });
    expect(idle).toMatchObject({ data: [], has_more: false, next: mirror.cursor });
  });

  it('a sync that finds everything as stored changes nothing Defrr reads: no new feed places, no new modified times', async () => {
    // A charge made just before: its balance transaction is pending, so each pass reads it again.
    const { orgId, accountId, job } = await connectNewAccount(stack, 'FeedSame', COUNTS, {}, (id) => {
      stack.sandbox.sandbox.createActivity(id, 'test', 'charge');
    });
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await settled();
    const mirror = await mirrorOf(orgId);
    await mirror.follow();
    const scope = { orgId, mode: 'test' as const, accountId };
    const coupon = [...sandboxObjects(stack, accountId, 'coupons').keys()][0] as string;
    const db = documentClient(stack.dynamoClient) as DynamoDBDocumentClient;
    const item = async () =>
      (
        await db.send(
          new GetCommand({
            TableName: LOCAL_TABLES.records,
            Key: recordKeys.record(scope, 'coupons', coupon),
          }),
        )
      ).Item;
    const before = await item();
    // Each pass reads the pending balance transactions again and lists the coupons whole: all as stored.
    const since = Date.now();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    const reread = listRequests(stack, accountId, since);
    expect(reread.some((r) => r.route === 'GET /v1/coupons')).toBe(true);
    // The pending ones, read again from the oldest (`created[gte]`).
    expect(
      reread.some((r) => r.route === 'GET /v1/balance_transactions' && r.query?.includes('created')),
    ).toBe(true);
    await settled();
    expect(await mirror.follow()).toBe(0);
    // The coupon keeps its place and modified time, its version moved on (an older event loses to it).
    const after = await item();
    expect([after?.seq, after?.syncedAt]).toEqual([before?.seq, before?.syncedAt]);
    expect(String(after?.version) > String(before?.version)).toBe(true);
    // Nor does it take new places: a pass that changes nothing hands out no feed position.
    const feedNext = async () =>
      (
        await db.send(
          new GetCommand({
            TableName: LOCAL_TABLES.records,
            Key: recordKeys.feed(scope),
            ConsistentRead: true,
          }),
        )
      ).Item?.next;
    const nextBefore = await feedNext();
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect(typeof nextBefore).toBe('number');
    expect(await feedNext()).toBe(nextBefore);
    expect((await item())?.seq).toBe(before?.seq);
    // A change still shows.
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await settled();
    expect(await mirror.follow()).toBeGreaterThan(0);
    await expectMirrorConverged(mirror, orgId, accountId);
    // A full pass (what a reconnect runs) backfills again, small resources from a map of what is
    // stored rather than a read per page: what it finds as stored is no change either.
    const nextBeforeFull = await feedNext();
    const asked = await stack.store.requestFullSync(
      refOf(job),
      job.connectionId,
      newFullPass(randomUUID(), ['customers', 'coupons', 'charges'], new Date().toISOString()),
    );
    expect(asked).toBe(true);
    await expect(runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty)).resolves.toMatchObject({
      outcome: 'completed',
    });
    await settled();
    expect(await mirror.follow()).toBe(0);
    expect((await item())?.seq).toBe(before?.seq);
    expect(await feedNext()).toBe(nextBeforeFull);
  });

  it('pages and filters: resource, action and modified_after narrow the page, the cursor moves past what they leave out', async () => {
    const { orgId, accountId, job } = await connectNewAccount(stack, 'FeedFilter', COUNTS);
    await runSync(stack.syncDeps, job, plenty);
    await settled();
    const token = await member(orgId);
    const charges = new FeedMirror((after) =>
      feedPage(stack, token, { resource: 'charges', limit: '7', after }),
    );
    // A filtered page reads the index in a few queries, each four times the last (from 100),
    // not a query per record it passes over.
    let feedQueries = 0;
    const sizes: Array<number | undefined> = [];
    const hook = 'test:count-feed-queries';
    stack.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        const input = (args as { input: { IndexName?: string; Limit?: number } }).input;
        if (context.commandName === 'QueryCommand' && input.IndexName === 'feed') {
          feedQueries++;
          sizes.push(input.Limit);
        }
        return next(args);
      },
      { step: 'initialize', name: hook },
    );
    try {
      expect(await charges.follow()).toBe(30);
      // The account holds fewer than 500 records: at most 100 + 400 read for a page.
      expect(feedQueries).toBeLessThanOrEqual(2 * charges.pages);
      expect(charges.live('charges').size).toBe(30);
      expect([...charges.records.values()].every((r) => r.resource === 'charges')).toBe(true);
      // Nothing matches: the whole feed in two queries, and the cursor at the end.
      feedQueries = 0;
      const none = await feedPage(stack, token, { resource: 'discounts', limit: '1' });
      expect([none.data.length, none.has_more, feedQueries]).toEqual([0, false, 2]);
      // A filter that matches most: about the page is read, not the budget.
      sizes.length = 0;
      const dense = await feedPage(stack, token, { action: 'added,updated', limit: '7' });
      expect([dense.data.length, sizes]).toEqual([7, [100]]);
    } finally {
      stack.dynamoClient.middlewareStack.remove(hook);
    }

    const page = await feedPage(stack, token, { limit: '1000' });
    expect(page.data.length).toBeGreaterThan(100);
    expect(page.data.length).toBeLessThanOrEqual(1000);
    const midway = page.data[Math.floor(page.data.length / 2)];
    const mark = new Date(Date.parse(midway?.last_modified_at ?? '') + 1).toISOString();
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'customer_deleted');
    stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    await settle(stack);
    await settled();
    const since = await feedPage(stack, token, { modified_after: mark, limit: '1000' });
    expect(since.data.length).toBeGreaterThan(0);
    for (const r of since.data) expect(r.last_modified_at > mark).toBe(true);
    const onlyDeleted = await feedPage(stack, token, { action: 'deleted', limit: '1000' });
    expect(onlyDeleted.data.length).toBeGreaterThan(0);
    expect(onlyDeleted.data.every((r) => r.action === 'deleted')).toBe(true);
    const addedOrUpdated = await feedPage(stack, token, {
      action: 'added,updated',
      resource: 'customers,charges',
    });
    expect(addedOrUpdated.data.every((r) => r.action !== 'deleted')).toBe(true);
    expect(addedOrUpdated.data.every((r) => ['customers', 'charges'].includes(r.resource))).toBe(true);
  });
});

describe('the feed under concurrent writers', () => {
  const scope: RecordScope = {
    orgId: 'org_feed_race',
    mode: 'test',
    accountId: 'acct_1FeedRace000000000000',
  };
  const object = (id: string, v: number) => ({ id, object: 'charge', created: 1_700_000_000, amount: v });
  const write = (id: string, v: number): RecordWrite => ({
    ...scope,
    resource: 'charges',
    object: object(id, v),
    version: `v${String(v).padStart(6, '0')}`,
    source: v % 2 ? 'webhook' : 'sync',
  });

  /** A store whose writes of `held` wait for `release` (a writer that took its positions, then stalled). */
  function stalledStore(now: () => Date) {
    const db = documentClient(stack.dynamoClient) as DynamoDBDocumentClient;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const send = db.send.bind(db) as (command: unknown) => Promise<unknown>;
    const wrapped = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: unknown) => {
          if (
            command instanceof PutCommand &&
            (command.input.Item?.objectId as string)?.startsWith('ch_held')
          ) {
            reached();
            await gate;
          }
          return send(command);
        };
      },
    });
    return {
      store: new DynamoRecordsStore(wrapped, LOCAL_TABLES.records, now),
      release: () => release(),
      stalled,
    };
  }

  it('a write that lands after later positions is never skipped: readers wait below a block still open', async () => {
    let nowMs = Date.now();
    const now = () => new Date(nowMs);
    const { store: slow, release, stalled } = stalledStore(now);
    const fast = new DynamoRecordsStore(documentClient(stack.dynamoClient), LOCAL_TABLES.records, now);
    const held = slow.put(write('ch_held1', 1));
    await stalled;
    await fast.putMany([write('ch_race_a', 2), write('ch_race_b', 2)]);
    nowMs += FEED_SETTLE_MS + 1;
    // The later writes are stored, but a reader may not pass the stalled one's position.
    const early = await fast.changes(scope, { after: 0, limit: 100 });
    expect(early.changes).toEqual([]);
    expect(early.hasMore).toBe(false);
    release();
    await held;
    // Closed just now: the index may not have it yet, so still nothing...
    expect((await fast.changes(scope, { after: early.next, limit: 100 })).changes).toEqual([]);
    nowMs += FEED_SETTLE_MS + 1;
    // ...then all three, in position order, the stalled one first.
    const page = await fast.changes(scope, { after: early.next, limit: 100 });
    expect(page.changes.map((c) => c.objectId)).toEqual(['ch_held1', 'ch_race_a', 'ch_race_b']);
    expect(page.changes.map((c) => c.seq)).toEqual([...page.changes.map((c) => c.seq)].sort((a, b) => a - b));
  });

  it('a writer that died holding positions holds readers back only until its block is dead, and may not write after', async () => {
    const deadScope: RecordScope = { ...scope, accountId: 'acct_1FeedDeadWriter0000000' };
    let nowMs = Date.now();
    const now = () => new Date(nowMs);
    const { store: slow, release, stalled } = stalledStore(now);
    const fast = new DynamoRecordsStore(documentClient(stack.dynamoClient), LOCAL_TABLES.records, now);
    const held = slow.put({ ...write('ch_held2', 1), ...deadScope });
    await stalled;
    await fast.put({ ...write('ch_after', 2), ...deadScope });
    nowMs += FEED_SETTLE_MS + 1;
    expect((await fast.changes(deadScope, { after: 0, limit: 10 })).changes).toEqual([]);
    nowMs += FEED_BLOCK_MAX_MS;
    const page = await fast.changes(deadScope, { after: 0, limit: 10 });
    expect(page.changes.map((c) => c.objectId)).toEqual(['ch_after']);
    release();
    await held;
    // A batch whose positions readers may have given up on may not be written with them: this
    // store's clock jumps ten minutes between opening the block and writing.
    const lateStore = new DynamoRecordsStore(
      documentClient(stack.dynamoClient),
      LOCAL_TABLES.records,
      (() => {
        let calls = 0;
        return () => new Date(nowMs + (++calls > 2 ? FEED_BLOCK_MAX_MS : 0));
      })(),
    );
    await expect(lateStore.putMany([{ ...write('ch_held4', 4), ...deadScope }])).rejects.toThrow(
      FeedBlockExpiredError,
    );
  });

  it('many writers at once: a follower reading all along sees every record at its last version, in order', async () => {
    const busyScope: RecordScope = { ...scope, accountId: 'acct_1FeedBusyWriters00000' };
    const store = stack.records;
    const ids = Array.from({ length: 30 }, (_, i) => `ch_busy${String(i).padStart(3, '0')}`);
    const latest = new Map<string, number>();
    let stop = false;
    const seen = new Map<string, number>();
    let after = 0;
    let lastSeq = 0;
    const follow = async () => {
      for (;;) {
        const done = stop;
        const page = await store.changes(busyScope, { after, limit: 50 });
        for (const change of page.changes) {
          expect(change.seq).toBeGreaterThan(lastSeq);
          lastSeq = change.seq;
          const amount = change.object.amount as number;
          // A record never goes back to an older version in the order the feed gives it.
          expect(amount).toBeGreaterThanOrEqual(seen.get(change.objectId) ?? 0);
          seen.set(change.objectId, amount);
        }
        after = page.next;
        if (done && !page.hasMore) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const follower = follow();
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let round = 1; round <= 8; round++) {
        const batch = ids
          .filter((_, i) => (i + round + w) % 3 === 0)
          .map((id) => ({ ...write(id, round * 10 + w), ...busyScope }));
        if (w % 2 === 0) await store.putMany(batch, newTally());
        else for (const one of batch) await store.put(one, newTally());
        for (const one of batch)
          latest.set(one.object.id, Math.max(latest.get(one.object.id) ?? 0, one.object.amount as number));
      }
    });
    await Promise.all(writers);
    await settled();
    stop = true;
    await follower;
    expect(seen).toEqual(latest);
    // And the stored versions are the newest written.
    const stored = await store.versions(busyScope, 'charges');
    expect(stored.size).toBe(ids.length);
  });
  it('a batch opened beside its read leaves the positions of stale records as gaps, and an all-stale batch holds no reader back', async () => {
    const gapScope: RecordScope = { ...scope, accountId: 'acct_1FeedGaps0000000000000' };
    let nowMs = Date.now();
    const store = new DynamoRecordsStore(
      documentClient(stack.dynamoClient),
      LOCAL_TABLES.records,
      () => new Date(nowMs),
    );
    const at = (id: string, v: number) => ({ ...write(id, v), ...gapScope });
    // The partition's first batch reads, then opens: positions 1 and 2.
    await store.putMany([at('ch_gap1', 5), at('ch_gap2', 5)]);
    // The next opens two beside its read; ch_gap1 is stale, so ch_gap3 takes 3 and 4 is a gap.
    await store.putMany([at('ch_gap1', 3), at('ch_gap3', 5)]);
    // All stale: its early position (5) is closed unused.
    await store.putMany([at('ch_gap2', 1)]);
    nowMs += FEED_SETTLE_MS + 1;
    const page = await store.changes(gapScope, { after: 0, limit: 100 });
    expect(page.changes.map((c) => [c.objectId, c.seq, c.object.amount])).toEqual([
      ['ch_gap1', 1, 5],
      ['ch_gap2', 2, 5],
      ['ch_gap3', 3, 5],
    ]);
    expect(page).toMatchObject({ hasMore: false, next: 5 });
    // After an all-stale batch the next reads first again: it takes only what it writes.
    await store.putMany([at('ch_gap4', 5)]);
    nowMs += FEED_SETTLE_MS + 1;
    const next = await store.changes(gapScope, { after: page.next, limit: 100 });
    expect(next.changes.map((c) => [c.objectId, c.seq])).toEqual([['ch_gap4', 6]]);
  });

  it('a batch whose write fails closes its block only once no other write of it is in flight', async () => {
    const failScope: RecordScope = { ...scope, accountId: 'acct_1FeedFailedBatch000000' };
    const db = documentClient(stack.dynamoClient) as DynamoDBDocumentClient;
    const send = db.send.bind(db) as (command: unknown) => Promise<unknown>;
    const events: string[] = [];
    let batches = 0;
    const wrapped = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: unknown) => {
          if (command instanceof BatchWriteCommand || command instanceof BatchWriteItemCommand) {
            // The first batch call fails at once; the others are slow and still in flight.
            if (++batches === 1) throw new Error('InternalServerError');
            events.push('write');
            await new Promise((resolve) => setTimeout(resolve, 100));
            const result = await send(command);
            events.push('written');
            return result;
          }
          if (command instanceof UpdateCommand && command.input.UpdateExpression?.startsWith('SET #d'))
            events.push('close');
          return send(command);
        };
      },
    });
    const store = new DynamoRecordsStore(wrapped, LOCAL_TABLES.records, () => new Date(), 1);
    const batch = Array.from({ length: 200 }, (_, i) => ({
      ...write(`ch_fail${String(i).padStart(3, '0')}`, 2),
      ...failScope,
    }));
    await expect(store.putMany(batch)).rejects.toThrow('InternalServerError');
    // Every write that started ended before the block closed, and none started after it.
    expect(events.at(-1)).toBe('close');
    expect(events.filter((e) => e === 'write').length).toBe(events.filter((e) => e === 'written').length);
    // The other workers stopped taking chunks: fewer than the batch's eight were sent.
    expect(batches).toBeLessThan(8);
  });

  it('a record too large to store closes the block it opened: readers are not held back', async () => {
    const bigScope: RecordScope = { ...scope, accountId: 'acct_1FeedTooLarge0000000000' };
    let nowMs = Date.now();
    const store = new DynamoRecordsStore(
      documentClient(stack.dynamoClient),
      LOCAL_TABLES.records,
      () => new Date(nowMs),
    );
    await store.putMany([{ ...write('ch_small', 2), ...bigScope }]);
    const huge = { ...write('ch_huge', 4), ...bigScope };
    huge.object = { ...huge.object, metadata: { blob: randomBytes(400_000).toString('base64') } };
    await expect(store.putMany([huge, { ...write('ch_small2', 4), ...bigScope }])).rejects.toThrow(
      RecordTooLargeError,
    );
    nowMs += FEED_SETTLE_MS + 1;
    // The block is closed, not held for FEED_BLOCK_MAX_MS: the horizon is past it.
    expect(await store.horizon(bigScope)).toBeGreaterThanOrEqual(3);
    const page = await store.changes(bigScope, { after: 0, limit: 10 });
    expect(page.changes.map((c) => c.objectId)).toEqual(['ch_small']);
  });

  it("stores a record as one item: its keys, its resource's attributes, its own version and provenance over them, its place and its object", async () => {
    const itemScope: RecordScope = { ...scope, accountId: 'acct_1FeedItemShape00000000' };
    const now = new Date('2026-12-07T01:02:03.000Z');
    const db = documentClient(stack.dynamoClient);
    const store = new DynamoRecordsStore(db, LOCAL_TABLES.records, () => now);
    const object = {
      id: 'txn_1ItemShape',
      object: 'balance_transaction',
      created: 1_700_000_123,
      livemode: false,
      amount: 1200,
      currency: 'usd',
      type: 'charge',
      status: 'available',
      source: 'ch_1ItemShape',
      net: 1165,
      fee: 35,
    };
    await store.putMany([
      {
        ...itemScope,
        resource: 'balance_transactions',
        object,
        version: 'v000007',
        source: 'sync',
        apiVersion: '2025-03-31.basil',
      },
    ]);
    const key = recordKeys.record(itemScope, 'balance_transactions', object.id);
    const { Item } = await db.send(new GetCommand({ TableName: LOCAL_TABLES.records, Key: key }));
    expect(Item).toEqual({
      pk: key.pk,
      sk: key.sk,
      orgId: itemScope.orgId,
      mode: 'test',
      accountId: itemScope.accountId,
      resource: 'balance_transactions',
      objectId: object.id,
      created: 1_700_000_123,
      livemode: false,
      amount: 1200,
      currency: 'usd',
      type: 'charge',
      status: 'available',
      // The record's provenance is set after the resource's attributes, so it overrides the
      // balance transaction's own `source` (which its object, in `data`, keeps).
      source: 'sync',
      net: 1165,
      fee: 35,
      version: 'v000007',
      deleted: false,
      apiVersion: '2025-03-31.basil',
      syncedAt: now.toISOString(),
      feedPk: key.pk,
      seq: expect.any(Number),
      firstSeenAt: now.toISOString(),
      data: expect.anything(),
    });
    expect(JSON.parse(gunzipSync(Item?.data as Uint8Array).toString('utf8'))).toEqual(object);
  });

  it('the feed item keeps only the blocks readers still wait on: many writes over time leave it small', async () => {
    const longScope: RecordScope = { ...scope, accountId: 'acct_1FeedLongRunning000000' };
    let nowMs = Date.now();
    const store = new DynamoRecordsStore(
      documentClient(stack.dynamoClient),
      LOCAL_TABLES.records,
      () => new Date(nowMs),
    );
    // 200 batches a second apart: a long backfill's pages.
    for (let i = 0; i < 200; i++) {
      await store.putMany([{ ...write(`ch_long${String(i).padStart(4, '0')}`, 2), ...longScope }]);
      nowMs += 1000;
    }
    const { Item } = await documentClient(stack.dynamoClient).send(
      new GetCommand({ TableName: LOCAL_TABLES.records, Key: recordKeys.feed(longScope) }),
    );
    const blocks = Object.keys(Item ?? {}).filter((name) => name.startsWith('o_'));
    // Those closed within the last 2 × FEED_SETTLE_MS (a few), never the 200.
    expect(blocks.length).toBeLessThanOrEqual((2 * FEED_SETTLE_MS) / 1000 + 2);
    expect(Number(Item?.next)).toBe(200);
    nowMs += FEED_SETTLE_MS + 1;
    const page = await store.changes(longScope, { after: 0, limit: 1000 });
    expect(page.changes).toHaveLength(200);
  });
});

describe('records written before the feed', () => {
  it('get their places once, when the next run seeds the feed; until then the feed lacks them', async () => {
    const { orgId, accountId, job, scope } = await connectNewAccount(stack, 'FeedSeed', {
      balance_transactions: 10,
      charges: 10,
    });
    await runSync(stack.syncDeps, job, plenty);
    // As older code left them: no position, no first-seen time, and a partition never seeded.
    const db = documentClient(stack.dynamoClient);
    const versions = await stack.records.versions(scope, 'charges');
    for (const id of versions.keys())
      await db.send(
        new UpdateCommand({
          TableName: LOCAL_TABLES.records,
          Key: recordKeys.record(scope, 'charges', id),
          UpdateExpression: 'REMOVE seq, feedPk, firstSeenAt',
        }),
      );
    await db.send(
      new UpdateCommand({
        TableName: LOCAL_TABLES.records,
        Key: recordKeys.feed(scope),
        UpdateExpression: 'REMOVE seeded',
      }),
    );
    await settled();
    const token = await member(orgId);
    const without = new FeedMirror((after) => feedPage(stack, token, { resource: 'charges', after }));
    await without.follow();
    expect(without.live('charges').size).toBe(0);
    await runSync(stack.syncDeps, { ...job, reason: 'manual' }, plenty);
    await settled();
    const mirror = await mirrorOf(orgId);
    await mirror.follow();
    expect(mirror.live('charges').size).toBe(10);
    await expectMirrorConverged(mirror, orgId, accountId);
    // Seeded once: a second call finds the partition done and reads nothing.
    await expect(stack.records.seedFeed(scope)).resolves.toEqual({ seeded: 0, done: true });
    // A legacy item put back without a position is left to an operator: the seeded flag holds.
    await db.send(
      new PutCommand({
        TableName: LOCAL_TABLES.records,
        Item: {
          ...recordKeys.record(scope, 'charges', 'ch_never'),
          resource: 'charges',
          objectId: 'ch_never',
        },
      }),
    );
    await expect(stack.records.seedFeed(scope)).resolves.toEqual({ seeded: 0, done: true });
  });
});

describe('who reads what', () => {
  let a: Awaited<ReturnType<typeof connectNewAccount>>;
  let b: Awaited<ReturnType<typeof connectNewAccount>>;
  beforeAll(async () => {
    a = await connectNewAccount(stack, 'FeedOrgA', { balance_transactions: 5, charges: 5 });
    b = await connectNewAccount(stack, 'FeedOrgB', { balance_transactions: 5, charges: 5 });
    await runSync(stack.syncDeps, a.job, plenty);
    await runSync(stack.syncDeps, b.job, plenty);
    await settled();
  });

  const ids = (page: { data: Array<{ object: Record<string, unknown> }> }) =>
    new Set(page.data.map((r) => r.object.id as string));

  it("members read their own org's records only; Defrr's backend reads the org it names", async () => {
    const all = async (token: string, query: Record<string, string> = {}, path?: string) => {
      const mirror = new FeedMirror((after) =>
        feedPage(stack, token, { limit: '1000', ...query, after }, path),
      );
      await mirror.follow();
      return { data: [...mirror.records.values()] };
    };
    const ofA = await all(await member(a.orgId));
    const ofB = await all(await member(b.orgId));
    const chargesOf = async (scope: RecordScope) => (await stack.records.versions(scope, 'charges')).size;
    expect(ofA.data.filter((r) => r.resource === 'charges')).toHaveLength(await chargesOf(a.scope));
    expect(ofA.data.length).toBeGreaterThan(10);
    expect([...ids(ofA)].some((id) => ids(ofB).has(id))).toBe(false);
    expect((await feedPage(stack, await member(a.orgId))).connection).toBe(`test_${a.accountId}`);
    // By connection id too: A's connection is not in B's org.
    const byId = await all(
      await member(a.orgId),
      {},
      `/v1/integrations/stripe/connections/test_${a.accountId}/records`,
    );
    expect(ids(byId)).toEqual(ids(ofA));
    const crossId = await api(
      stack,
      'GET',
      `/v1/integrations/stripe/connections/test_${a.accountId}/records`,
      {
        token: await member(b.orgId),
      },
    );
    expect(crossId.status).toBe(404);
    // A member naming another org is refused, not served.
    const named = await api(stack, 'GET', `/v1/integrations/stripe/records?org=${b.orgId}`, {
      token: await member(a.orgId),
    });
    expect(named.status).toBe(403);
    // Defrr's backend: any org, by name.
    const service = await serviceToken();
    const viaService = await all(service, { org: b.orgId });
    expect(ids(viaService)).toEqual(ids(ofB));
    expect(ids(await all(service, { org: a.orgId }))).toEqual(ids(ofA));
    const unnamed = await api(stack, 'GET', '/v1/integrations/stripe/records', { token: service });
    expect(unnamed.status).toBe(400);
    // Without the scope, a token that names no org reads nothing.
    const noScope = await api(stack, 'GET', `/v1/integrations/stripe/records?org=${a.orgId}`, {
      token: await serviceToken('stripe-connector/other'),
    });
    expect(noScope.status).toBe(403);
    // The scope whole: a lone bracket on it is another scope (only "[a b]", API Gateway's rendering
    // of an array, is unwrapped).
    for (const scope of ['[stripe-connector/records.read', 'stripe-connector/records.read]']) {
      const odd = await api(stack, 'GET', `/v1/integrations/stripe/records?org=${a.orgId}`, {
        token: await serviceToken(scope),
      });
      expect([scope, odd.status]).toEqual([scope, 403]);
    }
    // A user's token that carries the scope is still its org's: it cannot name another.
    const userWithScope = await stack.issuer.issue({
      org: a.orgId,
      roles: ['admin'],
      sub: 'user_scoped',
      scope: 'stripe-connector/records.read',
    });
    expect(
      (await api(stack, 'GET', `/v1/integrations/stripe/records?org=${b.orgId}`, { token: userWithScope }))
        .status,
    ).toBe(403);
    // No token, or one for another audience: the authorizer refuses.
    expect((await api(stack, 'GET', '/v1/integrations/stripe/records')).status).toBe(401);
    const otherAudience = await stack.issuer.issue({
      org: a.orgId,
      roles: ['member'],
      audience: 'someone-else',
    });
    expect(
      (await api(stack, 'GET', '/v1/integrations/stripe/records', { token: otherAudience })).status,
    ).toBe(401);
  });

  it('a cursor that is malformed, or of another org or connection, is a 400 and reads nothing', async () => {
    const token = await member(a.orgId);
    const ofB = await feedPage(stack, await member(b.orgId), { limit: '3' });
    const bad = [
      ofB.next,
      encodeCursor(b.scope, 0),
      encodeCursor({ ...a.scope, mode: 'live' }, 1),
      encodeCursor({ ...a.scope, orgId: b.orgId }, 1),
      'garbage',
      'fc1_AAAAAAAAAAAAAAAA_-1',
      `${encodeCursor(a.scope, 1)}0000000000000000`,
      `${encodeCursor(a.scope, 1)} `,
      'fc1_../../etc/passwd_1',
      'x'.repeat(65),
    ];
    for (const cursor of bad) {
      const response = await api(
        stack,
        'GET',
        `/v1/integrations/stripe/records?after=${encodeURIComponent(cursor)}`,
        {
          token,
        },
      );
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.json)).not.toContain('ch_');
    }
    const foreign = await api(stack, 'GET', `/v1/integrations/stripe/records?after=${ofB.next}`, { token });
    expect((foreign.json as { error: { code: string } }).error.code).toBe('invalid_cursor');
    // Well formed and this feed's, but past every position it handed out: no page gave it, and a
    // reader holding it would wait there, seeing nothing, while the feed grew beneath it.
    let end = await feedPage(stack, token, { limit: '1000' });
    while (end.has_more) end = await feedPage(stack, token, { limit: '1000', after: end.next });
    const atEnd = await api(stack, 'GET', `/v1/integrations/stripe/records?after=${end.next}`, { token });
    expect(atEnd.status).toBe(200);
    const position = Number(/_(\d+)$/.exec(end.next)?.[1]);
    const ahead = await api(
      stack,
      'GET',
      `/v1/integrations/stripe/records?after=${encodeCursor(a.scope, position + 1_000_000)}`,
      { token },
    );
    expect(ahead.status).toBe(400);
    expect((ahead.json as { error: { code: string } }).error.code).toBe('invalid_cursor');
    for (const query of [
      'limit=0',
      'limit=1001',
      'limit=abc',
      'limit=-1',
      'resource=nope',
      'action=created',
      'modified_after=yesterday',
      'unknown=1',
    ]) {
      const response = await api(stack, 'GET', `/v1/integrations/stripe/records?${query}`, { token });
      expect(response.status).toBe(400);
    }
    // An org with two connections names one; each connection's cursor is its own.
    await connectOrg(stack, a.orgId, { account: b.accountId });
    const ambiguous = await api(stack, 'GET', '/v1/integrations/stripe/records', { token });
    expect(ambiguous.status).toBe(409);
    const own = await feedPage(
      stack,
      token,
      { limit: '2' },
      `/v1/integrations/stripe/connections/test_${a.accountId}/records`,
    );
    const other = await api(
      stack,
      'GET',
      `/v1/integrations/stripe/connections/test_${b.accountId}/records?after=${own.next}`,
      { token },
    );
    expect(other.status).toBe(400);
  });

  it('tells Defrr when a connection connects, disconnects, or is revoked in Stripe', async () => {
    const c = await connectNewAccount(stack, 'FeedEvents', { charges: 1 });
    const connected = stack.bus.events.filter(
      (e) => e['detail-type'] === 'Stripe Connection Connected' && e.detail.orgId === c.orgId,
    );
    expect(connected).toHaveLength(1);
    const admin = await tokenFor(stack, c.orgId, 'admin');
    const gone = await api(stack, 'DELETE', '/v1/integrations/stripe?records=erase', { token: admin });
    expect(gone.status).toBe(202);
    const disconnected = stack.bus.events.filter(
      (e) => e['detail-type'] === 'Stripe Connection Disconnected' && e.detail.orgId === c.orgId,
    );
    expect(disconnected.map((e) => e.detail.erase)).toEqual([true]);
    // Again: already disconnected, told once.
    await api(stack, 'DELETE', '/v1/integrations/stripe', { token: admin });
    expect(
      stack.bus.events.filter(
        (e) => e['detail-type'] === 'Stripe Connection Disconnected' && e.detail.orgId === c.orgId,
      ),
    ).toHaveLength(1);

    const d = await connectNewAccount(stack, 'FeedRevoke', { charges: 1 });
    // The user uninstalled two minutes after installing (one within a minute waits for a sync to tell).
    const granted = Date.parse((await onlyConnection(stack.store, d.orgId))?.authorizedAt as string);
    const event = stripeEvent(
      'account.application.deauthorized',
      { id: 'ca_x', object: 'application' },
      { account: d.accountId, created: Math.floor(granted / 1000) + 120 },
    );
    await processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never });
    await processWebhookMessage(stack.processorDeps, {
      kind: 'event',
      event: { ...event, id: `${event.id}_again` } as never,
    });
    const revoked = stack.bus.events.filter(
      (e) => e['detail-type'] === 'Stripe Connection Revoked' && e.detail.orgId === d.orgId,
    );
    expect(revoked).toHaveLength(1);
    expect(EVENT_SCHEMAS['Stripe Connection Revoked'].parse(revoked[0]?.detail)).toMatchObject({
      accountId: d.accountId,
      connection: `test_${d.accountId}`,
    });
  });
});
