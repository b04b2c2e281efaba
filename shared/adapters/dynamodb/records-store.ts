import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type AttributeValue, BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { recordKeys } from '../../data/keys.js';
import type { Mode } from '../../domain/connection.js';
import { describeError } from '../../http/handler.js';
import { logger } from '../../logger.js';
import {
  type ChangeAction,
  type ChangeTally,
  type FeedPage,
  type FeedQuery,
  type KnownVersions,
  type LinedResource,
  type PutResult,
  type RecordCounts,
  type RecordScope,
  type RecordsStore,
  type RecordWrite,
  type StoredRecord,
  type StoredVersion,
  tallyChange,
} from '../../ports/records-store.js';
import {
  type LineResourceName,
  RECORD_RESOURCES,
  RESOURCES,
  type ResourceName,
  recordAttributes,
  type StripeObject,
} from '../../records/registry.js';
import { isConditionFailure } from './document-client.js';
import { countName, DynamoRecordCounts } from './record-counts.js';
import { FEED_BLOCK_MAX_MS, FEED_SETTLE_MS, feedEnds, readChanges } from './records-feed.js';

export { FEED_BLOCK_MAX_MS, FEED_SETTLE_MS };

/** Resources whose Stripe objects carry `livemode` (balance transactions and refunds do not). */
const SAYS_MODE = new Set<ResourceName>([
  'charges',
  'invoices',
  'credit_notes',
  'disputes',
  'customers',
  'products',
  'prices',
  'coupons',
  'payouts',
  'subscriptions',
  'invoice_payments',
  'subscription_schedules',
  'invoice_line_items',
  'credit_note_line_items',
]);

const RECORD_SET = new Set<ResourceName>(RECORD_RESOURCES);

/** DynamoDB's item limit is 400 KB; leave room for keys and attributes. */
const MAX_DATA_BYTES = 350 * 1024;

export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
}

/** A write's place in the change feed: its position and when the record was first stored. */
interface FeedPlace {
  seq: number;
  firstSeenAt: string;
}

/**
 * gzip's defaults allocate about 256 KB of state per call, which costs more than compressing a
 * typical object (a balance transaction is 0.4 KB of JSON, an invoice a few): a window and
 * state sized to the object compress the same bytes (still gzip, read back as any other) in
 * about half the time.
 */
function compress(json: string): Buffer {
  if (json.length > 4096) return gzipSync(json);
  return gzipSync(json, { windowBits: 12, memLevel: 6 });
}

/** The record's object as stored (`data`): the same object, the same bytes. */
const compressed = (record: RecordWrite): Buffer => compress(JSON.stringify(record.object));

/**
 * A record's item. Built as one literal and then assigned to, never as a literal that starts with
 * a spread: Node 20's V8 adds each property after a leading spread on a slow path (~1 µs a
 * property, 23 µs a record here; Node 22 does not). Later properties still override earlier
 * ones in the order they are set: the resource's attributes override the common ones, and the
 * record's own fields (its `source`, its `version`) override the attributes.
 */
function toItem(
  record: RecordWrite,
  now: string,
  place?: FeedPlace,
  data = compressed(record),
): Record<string, unknown> {
  if (data.length > MAX_DATA_BYTES) {
    throw new RecordTooLargeError(
      `${record.resource} ${record.object.id} is ${data.length} bytes compressed`,
    );
  }
  const keys = recordKeys.record(record, record.resource, record.object.id);
  const item: Record<string, unknown> = {
    pk: keys.pk,
    sk: keys.sk,
    orgId: record.orgId,
    mode: record.mode,
    accountId: record.accountId,
    resource: record.resource,
    objectId: record.object.id,
    created: typeof record.object.created === 'number' ? record.object.created : null,
    livemode: record.object.livemode === true,
  };
  Object.assign(item, recordAttributes(record.resource, record.object, record.parentId));
  if (record.parentId) item.parentId = record.parentId;
  if (record.lineIds) item.lineIds = record.lineIds;
  item.version = record.version;
  item.source = record.source;
  item.deleted = record.deleted === true;
  if (record.eventId) item.eventId = record.eventId;
  if (record.apiVersion) item.apiVersion = record.apiVersion;
  item.syncedAt = now;
  if (place) {
    item.feedPk = keys.pk;
    item.seq = place.seq;
    item.firstSeenAt = place.firstSeenAt;
  }
  item.data = data;
  return item;
}

/**
 * A record's item as DynamoDB's attribute values, built directly. The DocumentClient marshals an
 * item by walking it generically, which was about a tenth of a backfill's CPU (`--cpu-prof` of
 * `npm run bench`'s baseline); a record's item holds only strings, numbers, booleans, null, its
 * gzipped object and a list of ids, so the walk is a switch. As the DocumentClient does,
 * `undefined` is left out and a number DynamoDB could not hold exactly is refused.
 */
export function recordItemValues(item: Record<string, unknown>): Record<string, AttributeValue> {
  const values: Record<string, AttributeValue> = {};
  for (const name of Object.keys(item)) {
    const value = attributeValue(item[name], name);
    if (value) values[name] = value;
  }
  return values;
}

function attributeValue(value: unknown, name: string): AttributeValue | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
      return { S: value };
    case 'boolean':
      return { BOOL: value };
    case 'number':
      if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER)
        throw new Error(`${name} is ${value}: not a number DynamoDB holds exactly`);
      return { N: String(value) };
    case 'object':
      if (value === null) return { NULL: true };
      if (value instanceof Uint8Array) return { B: value };
      if (Array.isArray(value))
        return {
          L: value.flatMap((v, i) => {
            const each = attributeValue(v, `${name}[${i}]`);
            return each ? [each] : [];
          }),
        };
  }
  throw new Error(`${name} is a ${typeof value}: a record's item holds no such value`);
}

/** What a write does, told as the feed tells it: from what was stored before. */
const actionOf = (deleted: boolean, old: { deleted?: unknown } | undefined): ChangeAction =>
  deleted ? 'deleted' : old && old.deleted !== true ? 'updated' : 'added';

/**
 * When a stored record was first stored (records older than the feed: when last written); a
 * deleted one written again is new again (`now`), as `actionOf` tells it.
 */
const firstSeenOf = (old: Record<string, unknown> | undefined, now: string): string =>
  !old || old.deleted === true
    ? now
    : typeof old.firstSeenAt === 'string'
      ? old.firstSeenAt
      : typeof old.syncedAt === 'string'
        ? old.syncedAt
        : now;

const FEED_WRITE_WINDOW_MS = FEED_BLOCK_MAX_MS - 60_000;
/** How many finished blocks one close removes from the feed item. */
const PRUNE_AT_ONCE = 60;

/** Positions a writer holds: nobody reads past `first - 1` until it closes them and they settle. */
interface FeedBlock {
  token: string;
  first: number;
  count: number;
  openedAt: number;
  /** Entries of dead or long-settled blocks, removed when this one closes. */
  expired: string[];
}

export class FeedBlockExpiredError extends Error {
  override name = 'FeedBlockExpiredError';
}

/** 1 when the write leaves a record that counts (not deleted) where none counted, −1 the other way. */
const countDelta = (record: RecordWrite, old: { deleted?: unknown } | undefined) =>
  (record.deleted === true ? 0 : 1) - (old && old.deleted !== true ? 1 : 0);

/** The `resource` attribute of line pages: not a resource of their own (recounts leave them out). */
const LINE_RESOURCE: Record<LinedResource, string> = {
  invoices: 'invoice_lines',
  credit_notes: 'credit_note_lines',
  subscriptions: 'subscription_item_pages',
};

/** How long a full re-sync's record of what it saw is kept (the table's TTL removes it). */
const SEEN_TTL_SECONDS = 7 * 24 * 3600;
/** How many records a writer's known map holds at most (about 25 MB). */
export const MAX_KNOWN = 50_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number) => Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);

function storedVersionOf(item: Record<string, unknown>): StoredVersion {
  return {
    version: item.version as string,
    deleted: item.deleted === true,
    ...(item.deleted !== true && (typeof item.firstSeenAt === 'string' || typeof item.syncedAt === 'string')
      ? { firstSeenAt: firstSeenOf(item, '') }
      : {}),
    ...(Array.isArray(item.lineIds) ? { lineIds: item.lineIds as string[] } : {}),
  };
}

/** Where a stored record sits in the feed and what it holds: a writer of the same object keeps its place. */
interface StoredPlace {
  seq: number;
  syncedAt: string;
  firstSeenAt: string;
  data: Uint8Array;
}

function storedPlaceOf(item: Record<string, unknown>): StoredPlace | undefined {
  if (item.deleted === true || typeof item.seq !== 'number' || typeof item.syncedAt !== 'string')
    return undefined;
  if (!(item.data instanceof Uint8Array)) return undefined;
  return {
    seq: item.seq,
    syncedAt: item.syncedAt,
    firstSeenAt: firstSeenOf(item, item.syncedAt),
    data: item.data,
  };
}

/**
 * Resources nothing but a read writes (no events, no webhooks: balance transactions): a read that
 * finds one as stored writes nothing, not even its newer version, which no other writer could
 * need to be refused by.
 */
const READ_ONLY_WRITERS = new Set<string>(
  RESOURCES.filter((def) => def.eventTypes.length === 0).map((d) => d.name),
);

/** Synced Stripe objects in DynamoDB: queryable attributes plus the whole object, gzipped. */
export class DynamoRecordsStore implements RecordsStore {
  batchCalls = 0;
  /** Partitions whose last batch wrote something: their next batch opens its block early. */
  private readonly writingPartitions = new Set<string>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
    private readonly maxAttempts = 10,
  ) {
    this.countsReader = new DynamoRecordCounts(db, tableName);
  }

  private readonly countsReader: DynamoRecordCounts;

  async put(record: RecordWrite, tally?: ChangeTally): Promise<PutResult> {
    const key = recordKeys.record(record, record.resource, record.object.id);
    const { Item: before } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: key,
        ProjectionExpression: 'version, eventId, firstSeenAt, syncedAt, deleted',
        ConsistentRead: true,
      }),
    );
    if (before && String(before.version) >= record.version)
      return {
        outcome: 'stale',
        delta: 0,
        stored: {
          version: String(before.version),
          ...(typeof before.eventId === 'string' ? { eventId: before.eventId } : {}),
        },
      };
    const now = this.now().toISOString();
    const block = await this.openBlock(record, 1);
    try {
      const { Attributes } = await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(record, now, { seq: block.first, firstSeenAt: firstSeenOf(before, now) }),
          ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
          ExpressionAttributeValues: { ':v': record.version },
          ReturnValues: 'ALL_OLD',
        }),
      );
      tallyChange(tally, record.resource, actionOf(record.deleted === true, Attributes), block.first);
      return { outcome: 'written', delta: countDelta(record, Attributes) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    } finally {
      await this.closeBlock(record, block);
    }
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: key,
        ProjectionExpression: 'version, eventId',
        ConsistentRead: true,
      }),
    );
    return {
      outcome: 'stale',
      delta: 0,
      stored: {
        version: String(Item?.version ?? ''),
        ...(typeof Item?.eventId === 'string' ? { eventId: Item.eventId } : {}),
      },
    };
  }

  async addCounts(scope: RecordScope, deltas: RecordCounts): Promise<void> {
    const entries = Object.entries(deltas).filter(([, n]) => n !== 0 && n !== undefined);
    if (entries.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        UpdateExpression: `ADD ${entries.map((_, i) => `#n${i} :n${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([r], i) => [`#n${i}`, countName(r)])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, n], i) => [`:n${i}`, n])),
      }),
    );
  }

  counts(scope: RecordScope): Promise<RecordCounts | undefined> {
    return this.countsReader.counts(scope);
  }

  countsState(scope: RecordScope): Promise<{ countedFor?: string; doubt?: string } | undefined> {
    return this.countsReader.countsState(scope);
  }

  async markCountsInDoubt(scope: RecordScope): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        UpdateExpression: 'SET doubt = :token',
        ExpressionAttributeValues: { ':token': randomUUID() },
      }),
    );
  }

  async countsSettled(scope: RecordScope, connectionId: string, doubt?: string): Promise<void> {
    const key = recordKeys.counts(scope);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET countedFor = :cid',
        ExpressionAttributeValues: { ':cid': connectionId },
      }),
    );
    if (!doubt) return;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'REMOVE doubt',
          ConditionExpression: 'doubt = :token',
          ExpressionAttributeValues: { ':token': doubt },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async recount(scope: RecordScope, resource: ResourceName): Promise<number> {
    let total = 0;
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        // Invoice line pages share the invoices' prefix; they are not records of their own.
        FilterExpression: '#resource = :resource AND deleted = :false',
        ExpressionAttributeNames: { '#resource': 'resource' },
        ExpressionAttributeValues: {
          ':pk': recordKeys.partition(scope),
          ':prefix': `${resource}#`,
          ':resource': resource,
          ':false': false,
        },
        Select: 'COUNT',
        ConsistentRead: true,
      },
    );
    for await (const page of pages) total += page.Count ?? 0;
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': countName(resource) },
        ExpressionAttributeValues: { ':n': total },
      }),
    );
    return total;
  }

  async knownVersions(
    scope: RecordScope,
    resource: ResourceName,
    limit = 100,
  ): Promise<KnownVersions | undefined> {
    const versions = new Map<string, StoredVersion & { place?: StoredPlace | undefined }>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': recordKeys.partition(scope), ':prefix': `${resource}#` },
          // With each record's place (its position and object): a record read again exactly as
          // stored (a resource backfilled again) keeps it, and Defrr is not sent it as a change.
          ProjectionExpression: 'pk, sk, version, deleted, firstSeenAt, syncedAt, seq, #data',
          ExpressionAttributeNames: { '#data': 'data' },
          ConsistentRead: true,
          Limit: limit + 1 - versions.size,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      // Invoice line pages share the prefix: their keys never meet a record's, and are kept.
      for (const item of page.Items ?? [])
        versions.set(`${item.pk}|${item.sk}`, { ...storedVersionOf(item), place: storedPlaceOf(item) });
      startKey = page.LastEvaluatedKey;
      if (versions.size > limit) return undefined;
    } while (startKey);
    return { resource, versions, valid: true };
  }

  async recountAll(scope: RecordScope): Promise<RecordCounts> {
    const counts: RecordCounts = Object.fromEntries(RECORD_RESOURCES.map((name) => [name, 0]));
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        // As `recount` counts: an item of the resource, under its prefix (not a line page), not deleted.
        FilterExpression: 'deleted = :false',
        ProjectionExpression: 'sk, #resource',
        ExpressionAttributeNames: { '#resource': 'resource' },
        ExpressionAttributeValues: { ':pk': recordKeys.partition(scope), ':false': false },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? []) {
        const resource = item.resource as ResourceName;
        if (RECORD_SET.has(resource) && String(item.sk).startsWith(`${resource}#`))
          counts[resource] = (counts[resource] ?? 0) + 1;
      }
    const entries = Object.entries(counts);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        UpdateExpression: `SET ${entries.map((_, i) => `#n${i} = :n${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([r], i) => [`#n${i}`, countName(r)])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, n], i) => [`:n${i}`, n])),
      }),
    );
    return counts;
  }

  async putMany(
    records: RecordWrite[],
    tally?: ChangeTally,
    known?: KnownVersions,
  ): Promise<{
    written: number;
    created: number;
    stale: number;
    batchCalls: number;
    deltas: RecordCounts;
  }> {
    // The newest of duplicates within the batch.
    const newest = new Map<string, RecordWrite>();
    for (const record of records) {
      const { pk, sk } = recordKeys.record(record, record.resource, record.object.id);
      const key = `${pk}|${sk}`;
      const existing = newest.get(key);
      if (!existing || existing.version <= record.version) newest.set(key, record);
    }
    // One block of positions for the batch (one partition: the run's); of a record twice, the newest.
    const scope = newest.values().next().value as RecordWrite | undefined;
    if (!scope) return { written: 0, created: 0, stale: 0, batchCalls: 0, deltas: {} };
    const partition = recordKeys.partition(scope);
    if ([...newest.values()].some((r) => recordKeys.partition(r) !== partition))
      throw new Error('putMany writes one partition at a time');
    // While the partition's batches keep writing (a backfill), the block is opened beside the
    // read of the stored versions rather than after it: one round trip less a page. Positions
    // a stale record does not use are gaps, which readers step over. Once a batch is all
    // stale (a re-read of what is stored), the next one reads first and opens only if needed.
    // A run that knows what is stored (it is the partition's only writer) reads nothing first.
    const knows =
      known?.valid === true && [...newest.values()].every((r) => r.resource === known.resource)
        ? known
        : undefined;
    // (Not beside a known map: it is read at once, so the block waits to see what changed.)
    const early = knows === undefined && this.writingPartitions.has(partition);
    const [read, opened] = await Promise.allSettled([
      knows ? Promise.resolve(knows.versions) : this.storedVersions([...newest.keys()], false, true),
      early ? this.openBlock(scope, newest.size) : Promise.resolve(undefined),
    ]);
    if (read.status === 'rejected') {
      if (opened.status === 'fulfilled' && opened.value) await this.closeBlock(scope, opened.value);
      throw read.reason;
    }
    if (opened.status === 'rejected') throw opened.reason;
    const stored: Map<string, StoredVersion & { place?: StoredPlace | undefined }> = read.value;
    const newer = [...newest.entries()].filter(
      ([key, r]) => !(stored.get(key) !== undefined && (stored.get(key)?.version as string) >= r.version),
    );
    // A newer read of an object as it is stored (a pending balance transaction read again, the
    // coupons listed whole): not a change, so not a new place in the feed, nor a new
    // last-modified time, for Defrr to pull again. It is written in place with its newer version
    // (an older event must still lose to it), or, where only reads write, not at all.
    const data = newer.map(([, r]) => compressed(r));
    const kept = newer.map(([key, r], i) => {
      const place = r.deleted === true ? undefined : stored.get(key)?.place;
      return place && Buffer.compare(place.data, data[i] as Buffer) === 0 ? place : undefined;
    });
    const fresh = newer.filter((_, i) => kept[i] === undefined);
    const freshData = data.filter((_, i) => kept[i] === undefined);
    const inPlace = newer.flatMap(([key, r], i) => {
      const place = kept[i];
      return place && !READ_ONLY_WRITERS.has(r.resource) ? [{ key, r, place, data: data[i] as Buffer }] : [];
    });
    // As stored before this batch (a known map changes as the run writes).
    const prior = fresh.map(([key]) => stored.get(key));
    const now = this.now().toISOString();
    let calls = 0;
    if (fresh.length === 0 && inPlace.length === 0) {
      this.writingPartitions.delete(partition);
      if (opened.value) await this.closeBlock(scope, opened.value);
      return { written: 0, created: 0, stale: records.length, batchCalls: 0, deltas: {} };
    }
    // Only a change takes positions: what is written in place keeps the one it has, which readers
    // may already have passed (it reads there as it did). A batch of no change reads first next time.
    if (fresh.length === 0) this.writingPartitions.delete(partition);
    else {
      if (this.writingPartitions.size >= 1000) this.writingPartitions.clear();
      this.writingPartitions.add(partition);
    }
    const block = opened.value ?? (fresh.length > 0 ? await this.openBlock(scope, fresh.length) : undefined);
    const first = block?.first ?? 0;
    // Once one chunk fails the others stop taking chunks and retries; the block closes only
    // when none is still in flight, so no write lands at a position readers have passed.
    let failed = false;
    const writeChunk = async (items: Array<Record<string, unknown>>) => {
      let pending = items.map((item) => ({ PutRequest: { Item: recordItemValues(item) } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (failed) return;
        if (block) this.checkWindow(block);
        if (attempt >= this.maxAttempts)
          throw new Error(
            `${pending.length} record(s) still unprocessed after ${attempt} BatchWriteItem calls`,
          );
        if (attempt > 0) await sleep(backoff(attempt));
        calls++;
        // Already attribute values: sent as they are, past the DocumentClient's marshalling.
        const result = await this.db.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }) as never,
        );
        pending = ((result as { UnprocessedItems?: Record<string, typeof pending> }).UnprocessedItems?.[
          this.tableName
        ] ?? []) as typeof pending;
      }
    };
    let next = 0;
    try {
      // Built inside the try: a record too large to store closes the block like any failure.
      const chunks: Array<Array<Record<string, unknown>>> = [];
      const items = [
        ...fresh.map(([, r], i) =>
          toItem(r, now, { seq: first + i, firstSeenAt: prior[i]?.firstSeenAt ?? now }, freshData[i]),
        ),
        // Unchanged: its place in the feed and its last-modified time stay.
        ...inPlace.map(({ r, place, data }) => toItem(r, place.syncedAt, place, data)),
      ];
      for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
      const settled = await Promise.allSettled(
        Array.from({ length: Math.min(4, chunks.length) }, async () => {
          try {
            while (next < chunks.length && !failed)
              await writeChunk(chunks[next++] as Array<Record<string, unknown>>);
          } catch (error) {
            failed = true;
            throw error;
          }
        }),
      );
      const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
    } catch (error) {
      // Some of the batch may have landed: what is stored is no longer known.
      if (knows) knows.valid = false;
      throw error;
    } finally {
      if (block) await this.closeBlock(scope, block);
    }
    this.batchCalls += calls;
    const created = prior.filter((old) => old === undefined).length;
    const deltas: RecordCounts = {};
    fresh.forEach(([key, r], i) => {
      deltas[r.resource] = (deltas[r.resource] ?? 0) + countDelta(r, prior[i]);
      tallyChange(tally, r.resource, actionOf(r.deleted === true, prior[i]), first + i);
      knows?.versions.set(key, {
        version: r.version,
        deleted: r.deleted === true,
        ...(r.deleted === true ? {} : { firstSeenAt: prior[i]?.firstSeenAt ?? now }),
      });
    });
    // Written in place with a newer version: the map says so (it is the only guard these writes have).
    for (const { key, r, place } of inPlace)
      knows?.versions.set(key, { ...stored.get(key), version: r.version, place } as StoredVersion);
    // Half a KB an entry: past MAX_KNOWN, a backfill that large reads before it writes instead.
    if (knows && knows.versions.size > MAX_KNOWN) {
      knows.valid = false;
      knows.versions.clear();
    }
    return {
      written: fresh.length,
      created,
      stale: records.length - fresh.length,
      batchCalls: calls,
      deltas,
    };
  }

  async noteSeen(scope: RecordScope, passId: string, resource: ResourceName, objectIds: string[]) {
    const pk = recordKeys.seen(scope, passId);
    const ttl = Math.floor(this.now().getTime() / 1000) + SEEN_TTL_SECONDS;
    // An object can appear twice in a page of events (created, then paid): one item each.
    const items = [...new Set(objectIds)].map((id) => ({ pk, sk: `${resource}#${id}`, ttl }));
    for (let i = 0; i < items.length; i += 25) {
      let pending = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.maxAttempts) throw new Error('BatchWriteItem kept returning unprocessed items');
        if (attempt > 0) await sleep(backoff(attempt));
        const result = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
      }
    }
  }

  async markUnseenDeleted(
    scope: RecordScope,
    passId: string,
    resource: ResourceName,
    since: string,
    version: (object: StripeObject) => string,
    options: {
      after?: string | undefined;
      shouldStop?: () => boolean;
      keep?: (object: StripeObject) => boolean;
      tally?: ChangeTally;
    } = {},
  ): Promise<{ deleted: number; done: boolean; after?: string }> {
    const pk = recordKeys.partition(scope);
    const seenPk = recordKeys.seen(scope, passId);
    let after = options.after;
    let deleted = 0;
    for (;;) {
      if (options.shouldStop?.()) return { deleted, done: false, ...(after ? { after } : {}) };
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          // Line pages share the invoices' prefix; records written since the pass began exist.
          FilterExpression:
            '#resource = :resource AND deleted = :false AND (attribute_not_exists(syncedAt) OR syncedAt < :since)',
          ProjectionExpression: 'sk, objectId',
          ExpressionAttributeNames: { '#resource': 'resource' },
          ExpressionAttributeValues: {
            ':pk': pk,
            ':prefix': `${resource}#`,
            ':resource': resource,
            ':false': false,
            ':since': since,
          },
          Limit: 500,
          ConsistentRead: true,
          ...(after ? { ExclusiveStartKey: { pk, sk: after } } : {}),
        }),
      );
      const ids = (page.Items ?? []).map((item) => String(item.objectId));
      const seen = await this.storedVersions(ids.map((id) => `${seenPk}|${resource}#${id}`));
      for (const id of ids) {
        if (seen.has(`${seenPk}|${resource}#${id}`)) continue;
        const stored = await this.get(scope, resource, id);
        if (!stored || stored.deleted || options.keep?.(stored.object)) continue;
        const result = await this.put(
          {
            ...scope,
            resource,
            object: stored.object,
            version: version(stored.object),
            source: 'sync',
            deleted: true,
            ...(stored.apiVersion ? { apiVersion: stored.apiVersion } : {}),
          },
          options.tally,
        );
        if (result.outcome === 'written') {
          deleted++;
          if (result.delta !== 0) await this.addCounts(scope, { [resource]: result.delta });
        }
      }
      const next = page.LastEvaluatedKey?.sk;
      if (typeof next !== 'string') return { deleted, done: true };
      after = next;
    }
  }

  async eraseBefore(
    scope: RecordScope,
    before: string,
    options: {
      after?: string | undefined;
      beforePage?: (progress: { erased: number; after: string | undefined }) => Promise<boolean>;
    } = {},
  ): Promise<{ erased: number; done: boolean; after?: string }> {
    const pk = recordKeys.partition(scope);
    let after = options.after;
    let erased = 0;
    for (;;) {
      if (options.beforePage && !(await options.beforePage({ erased, after })))
        return { erased, done: false, ...(after ? { after } : {}) };
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ProjectionExpression: 'sk, syncedAt',
          ExpressionAttributeValues: { ':pk': pk },
          Limit: 200,
          ConsistentRead: true,
          ...(after ? { ExclusiveStartKey: { pk, sk: after } } : {}),
        }),
      );
      // The feed's positions stay: what a later connection writes comes after what was erased.
      const doomed = (page.Items ?? []).filter(
        (item) =>
          item.sk !== recordKeys.feed(scope).sk &&
          (typeof item.syncedAt !== 'string' || item.syncedAt < before),
      );
      // One conditional delete each: a record a later connection wrote meanwhile stays.
      for (let i = 0; i < doomed.length; i += 16) {
        const results = await Promise.all(
          doomed.slice(i, i + 16).map(async (item) => {
            try {
              await this.db.send(
                new DeleteCommand({
                  TableName: this.tableName,
                  Key: { pk, sk: item.sk },
                  ConditionExpression: 'attribute_not_exists(syncedAt) OR syncedAt < :before',
                  ExpressionAttributeValues: { ':before': before },
                }),
              );
              return 1;
            } catch (error) {
              if (isConditionFailure(error)) return 0;
              throw error;
            }
          }),
        );
        erased += results.reduce<number>((a, b) => a + b, 0);
      }
      const next = page.LastEvaluatedKey?.sk;
      if (typeof next !== 'string') return { erased, done: true };
      after = next;
    }
  }

  private async storedVersions(
    keys: string[],
    withLines = false,
    withPlace = false,
  ): Promise<Map<string, StoredVersion & { place?: StoredPlace | undefined }>> {
    const versions = new Map<string, StoredVersion & { place?: StoredPlace | undefined }>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Array<Record<string, unknown>> = keys.slice(i, i + 100).map((key) => {
        const [pk, sk] = key.split('|');
        return { pk, sk };
      });
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.maxAttempts) throw new Error('BatchGetItem kept returning unprocessed keys');
        if (attempt > 0) await sleep(backoff(attempt));
        const result = await this.db.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: pending,
                // (Projected or not, an item's whole size is what the read costs.)
                ProjectionExpression: `pk, sk, version, deleted, firstSeenAt, syncedAt${withLines ? ', lineIds' : ''}${withPlace ? ', seq, #data' : ''}`,
                ...(withPlace ? { ExpressionAttributeNames: { '#data': 'data' } } : {}),
                ConsistentRead: true,
              },
            },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? [])
          versions.set(
            `${item.pk}|${item.sk}`,
            withPlace ? { ...storedVersionOf(item), place: storedPlaceOf(item) } : storedVersionOf(item),
          );
        pending = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Array<Record<string, unknown>>;
      }
    }
    return versions;
  }

  async storedLines(
    scope: RecordScope,
    resource: LinedResource,
    parentIds: string[],
  ): Promise<Map<string, { version: string; lineIds: string[] }>> {
    const keyOf = (id: string) => {
      const { pk, sk } = recordKeys.record(scope, resource, id);
      return `${pk}|${sk}`;
    };
    const stored = await this.storedVersions([...new Set(parentIds)].map(keyOf), true);
    const out = new Map<string, { version: string; lineIds: string[] }>();
    for (const id of parentIds) {
      const found = stored.get(keyOf(id));
      if (found) out.set(id, { version: found.version, lineIds: found.lineIds ?? [] });
    }
    return out;
  }

  async markLinesDeleted(
    scope: RecordScope,
    resource: LineResourceName,
    lineIds: string[],
    version: string,
    tally?: ChangeTally,
  ): Promise<number> {
    let delta = 0;
    const now = this.now().toISOString();
    const ids = [...new Set(lineIds)];
    if (ids.length === 0) return 0;
    const block = await this.openBlock(scope, ids.length);
    try {
      for (const [i, id] of ids.entries()) {
        this.checkWindow(block);
        try {
          const { Attributes } = await this.db.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: recordKeys.record(scope, resource, id),
              UpdateExpression:
                'SET deleted = :true, version = :v, syncedAt = :now, seq = :seq, feedPk = :fp, firstSeenAt = if_not_exists(firstSeenAt, syncedAt)',
              ConditionExpression: 'attribute_exists(pk) AND version < :v',
              ExpressionAttributeValues: {
                ':true': true,
                ':v': version,
                ':now': now,
                ':seq': block.first + i,
                ':fp': recordKeys.partition(scope),
              },
              // The whole old item: an attribute set to the value it had may not count as updated.
              ReturnValues: 'ALL_OLD',
            }),
          );
          if (Attributes?.deleted !== true) delta--;
          tallyChange(tally, resource, 'deleted', block.first + i);
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
    } finally {
      await this.closeBlock(scope, block);
    }
    return delta;
  }

  async putLines(
    scope: RecordScope,
    resource: LinedResource,
    parentId: string,
    version: string,
    lines: StripeObject[],
  ): Promise<void> {
    const now = this.now().toISOString();
    let pages = 0;
    for (let i = 0; i * 100 < lines.length; i++, pages++) {
      const chunk = lines.slice(i * 100, (i + 1) * 100);
      const data = gzipSync(JSON.stringify(chunk));
      if (data.length > MAX_DATA_BYTES)
        throw new RecordTooLargeError(`lines of ${parentId} page ${i} are ${data.length} bytes compressed`);
      const key = recordKeys.record(scope, resource, `${parentId}#lines#${String(i).padStart(4, '0')}`);
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              orgId: scope.orgId,
              mode: scope.mode,
              accountId: scope.accountId,
              resource: LINE_RESOURCE[resource],
              parentId,
              page: i,
              count: chunk.length,
              version,
              syncedAt: now,
              data,
            },
            ConditionExpression: 'attribute_not_exists(pk) OR version <= :v',
            ExpressionAttributeValues: { ':v': version },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    await this.deleteLinePages(scope, resource, parentId, version, pages);
  }

  /** Pages of older versions from `from` on (a draft that shrank): never read, and now gone. */
  async deleteLinePages(
    scope: RecordScope,
    resource: LinedResource,
    parentId: string,
    version: string,
    from = 0,
  ): Promise<void> {
    for (const item of await this.linePages(scope, resource, parentId, 'pk, sk, page, version')) {
      if ((item.page as number) < from || (item.version as string) >= version) continue;
      try {
        await this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: item.sk },
            ConditionExpression: 'version < :v',
            ExpressionAttributeValues: { ':v': version },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  private async linePages(
    scope: RecordScope,
    resource: LinedResource,
    parentId: string,
    projection?: string,
  ): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': recordKeys.partition(scope),
            ':prefix': `${resource}#${parentId}#lines#`,
          },
          ...(projection ? { ProjectionExpression: projection } : {}),
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(result.Items ?? []));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * The lines past the embedded page of an invoice or credit note as stored: only pages
   * written with the stored object's version count, so pages left by an older version (a
   * draft that shrank, an object a webhook brought newer without its lines) are never taken
   * for its lines.
   */
  async lines(scope: RecordScope, resource: LinedResource, parentId: string): Promise<StripeObject[]> {
    const parent = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.record(scope, resource, parentId),
        ProjectionExpression: 'version',
        ConsistentRead: true,
      }),
    );
    const version = parent.Item?.version as string | undefined;
    if (version === undefined) return [];
    return (await this.linePages(scope, resource, parentId))
      .filter((item) => item.version === version)
      .sort((x, y) => (x.page as number) - (y.page as number))
      .flatMap((item) => JSON.parse(gunzipSync(item.data as Uint8Array).toString('utf8')) as StripeObject[]);
  }

  async get(scope: RecordScope, resource: ResourceName, objectId: string): Promise<StoredRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.record(scope, resource, objectId),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      orgId: scope.orgId,
      mode: scope.mode,
      accountId: scope.accountId,
      resource,
      objectId,
      version: Item.version as string,
      source: Item.source as 'sync' | 'webhook',
      deleted: Item.deleted === true,
      ...(typeof Item.apiVersion === 'string' ? { apiVersion: Item.apiVersion } : {}),
      object: JSON.parse(gunzipSync(Item.data as Uint8Array).toString('utf8')) as StripeObject,
    };
  }

  /**
   * Moves what older code stored for an org's account, both modes in one partition
   * (`ORG#org#ACCT#acct`), into the partition of each record's own mode. Charges,
   * invoices, credit notes and disputes say their mode (`livemode`); a refund takes its
   * charge's, a line page its object's, a balance transaction its source's. When every
   * record that says its mode says `mode` (an org that never changed modes: the common
   * case), everything is `mode`'s. What cannot be placed is kept aside (never served,
   * never guessed) and its resource returned, for the caller to read again from Stripe.
   * Each item is copied first (never over a newer version in its new place) and then
   * deleted, so a move that dies half-way is finished by the next call, and a call on an
   * empty old partition costs one Query. The old counts item goes: each partition's
   * first run counts afresh.
   */
  async migrateLegacyPartition(
    orgId: string,
    accountId: string,
    mode: Mode,
    shouldStop: () => boolean = () => false,
    /** Called, before anything moves, with the resources some records of which will be put aside. */
    beforeAside: (resources: ResourceName[]) => Promise<void> = async () => {},
  ): Promise<{ moved: number; unplaced: ResourceName[]; done: boolean }> {
    const legacy = recordKeys.legacyPartition(orgId, accountId);
    const items = (projection?: string) =>
      paginateQuery(
        { client: this.db },
        {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': legacy },
          ...(projection
            ? {
                ProjectionExpression: projection,
                ExpressionAttributeNames: { '#c': 'charge', '#d': 'data' },
              }
            : {}),
          ConsistentRead: true,
        },
      );
    // First what each record says of its mode, and what the others point at. A balance
    // transaction's `source` attribute is the write's provenance (toItem's `source` follows
    // the resource's attributes), so its source is read from the object.
    // Counts are counted afresh; a feed item (older code wrote none) holds no record.
    const feedSk = recordKeys.feed({ orgId, mode: 'test', accountId }).sk;
    const said = new Map<string, Mode>();
    const pointsAt = new Map<string, string[]>();
    const all: string[] = [];
    let any = false;
    for await (const page of items('sk, livemode, #c, #d')) {
      for (const item of page.Items ?? []) {
        any = true;
        const sk = item.sk as string;
        const [resource, id] = sk.split('#');
        if (sk === feedSk) continue;
        if (sk !== '_counts') all.push(sk);
        if (sk.includes('#lines#') || sk === '_counts' || !id) continue;
        if (SAYS_MODE.has(resource as ResourceName)) said.set(sk, item.livemode === true ? 'live' : 'test');
        else if (resource === 'refunds' && typeof item.charge === 'string')
          pointsAt.set(sk, [`charges#${item.charge}`]);
        else if (resource === 'balance_transactions' && item.data) {
          const object = JSON.parse(gunzipSync(item.data as Uint8Array).toString('utf8')) as StripeObject;
          const source =
            typeof object.source === 'string' ? object.source : (object.source as { id?: string } | null)?.id;
          if (source)
            pointsAt.set(
              sk,
              ['charges', 'refunds', 'disputes', 'payouts'].map((r) => `${r}#${source}`),
            );
        }
      }
    }
    if (!any) return { moved: 0, unplaced: [], done: true };
    // Records that say their mode move last: until then they are all still here, so a move
    // resumed after an interruption decides the others exactly as the first attempt did.
    const singleMode = [...said.values()].every((m) => m === mode);
    const movedAlready = async (sk: string): Promise<Mode | undefined> => {
      for (const m of ['test', 'live'] as const) {
        const { Item } = await this.db.send(
          new GetCommand({
            TableName: this.tableName,
            Key: { pk: recordKeys.partition({ orgId, mode: m, accountId }), sk },
            ProjectionExpression: 'pk',
            ConsistentRead: true,
          }),
        );
        if (Item) return m;
      }
      return undefined;
    };
    const modeOf = async (sk: string): Promise<Mode | undefined> => {
      if (singleMode) return mode;
      const lineAt = sk.indexOf('#lines#');
      const own = lineAt >= 0 ? sk.slice(0, lineAt) : sk;
      if (said.has(own)) return said.get(own);
      for (const target of pointsAt.get(own) ?? []) {
        const found =
          said.get(target) ??
          pointsAt
            .get(target)
            ?.map((t) => said.get(t))
            .find(Boolean);
        if (found) return found;
      }
      // A refund an earlier, interrupted move already placed.
      for (const target of pointsAt.get(own) ?? [])
        if (target.startsWith('refunds#')) {
          const found = await movedAlready(target);
          if (found) return found;
        }
      return undefined;
    };
    // What will be put aside is known now: its resources are read again from Stripe, and that
    // is arranged before anything moves (a move that dies after putting a record aside would
    // otherwise never say so again).
    const aside = new Set<ResourceName>();
    for (const sk of all) if ((await modeOf(sk)) === undefined) aside.add(sk.split('#')[0] as ResourceName);
    if (aside.size > 0) await beforeAside([...aside]);
    let moved = 0;
    let again = false;
    const unplaced = new Set<ResourceName>();
    const move = async (item: Record<string, unknown>, found: Mode | undefined) => {
      const sk = item.sk as string;
      if (sk !== '_counts' && sk !== feedSk) {
        const pk = found
          ? recordKeys.partition({ orgId, mode: found, accountId })
          : recordKeys.unplacedPartition(orgId, accountId);
        if (!found) unplaced.add(sk.split('#')[0] as ResourceName);
        try {
          await this.db.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...item, pk, ...(found ? { mode: found } : {}) },
              ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
              ExpressionAttributeValues: { ':v': item.version },
            }),
          );
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
        if (found) moved++;
      }
      // Only the version copied: a newer one written meanwhile (code of before the move,
      // still running during a deploy) stays, and the next call moves it.
      try {
        await this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: legacy, sk },
            ...(item.version === undefined
              ? {}
              : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': item.version } }),
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        again = true;
      }
    };
    const saysMode = (sk: string) =>
      !sk.includes('#lines#') && SAYS_MODE.has(sk.split('#')[0] as ResourceName);
    for (const last of [false, true]) {
      for await (const page of items()) {
        for (const item of page.Items ?? []) {
          const sk = item.sk as string;
          if (saysMode(sk) !== last) continue;
          if (shouldStop()) return { moved, unplaced: [...unplaced], done: false };
          await move(item, sk === '_counts' || sk === feedSk ? undefined : await modeOf(sk));
        }
      }
    }
    // A record rewritten in the old place while it moved is moved again by the next call.
    return { moved, unplaced: [...unplaced], done: !again };
  }

  /**
   * Takes `count` positions of the partition's change sequence and holds them open: one
   * UpdateItem that moves `next` on and notes, under a token of its own, the position before
   * the block (`o_`) and when it was taken (`t_`). A reader never goes past a block still open
   * (see `horizon`), so a write that lands late is never skipped, whatever order the writes
   * land in. Positions of writes that turn out stale are gaps, which readers step over.
   */
  private async openBlock(scope: RecordScope, count: number): Promise<FeedBlock> {
    const token = randomUUID().replaceAll('-', '').slice(0, 20);
    const openedAt = this.now().getTime();
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.feed(scope),
        // Both read `next` as it was before this update.
        UpdateExpression:
          'SET #next = if_not_exists(#next, :zero) + :n, #o = if_not_exists(#next, :zero), #t = :at',
        ExpressionAttributeNames: { '#next': 'next', '#o': `o_${token}`, '#t': `t_${token}` },
        ExpressionAttributeValues: { ':zero': 0, ':n': count, ':at': openedAt },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const item = Attributes ?? {};
    const expired: string[] = [];
    for (const name of Object.keys(item)) {
      if (!name.startsWith('o_') || name === `o_${token}`) continue;
      const other = name.slice(2);
      const closed = item[`d_${other}`];
      const opened = Number(item[`t_${other}`] ?? 0);
      // A closed block holds readers for FEED_SETTLE_MS only; twice that allows for the clocks of
      // two Lambdas. Pruned this soon, the item keeps a few seconds of blocks, not a backfill's
      // worth: it stays small, and so does what each write to it costs.
      if (
        typeof closed === 'number'
          ? openedAt - closed > 2 * FEED_SETTLE_MS
          : openedAt - opened > FEED_BLOCK_MAX_MS + 60_000
      )
        expired.push(other);
    }
    // At most PRUNE_AT_ONCE a close: three names each keep the update expression well under 4 KB.
    return {
      token,
      first: Number(item.next) - count + 1,
      count,
      openedAt,
      expired: expired.slice(0, PRUNE_AT_ONCE),
    };
  }

  /** Its writes are done (or failed): readers may pass it once the index has them. */
  private async closeBlock(scope: RecordScope, block: FeedBlock): Promise<void> {
    const names: Record<string, string> = { '#d': `d_${block.token}`, '#own': `o_${block.token}` };
    const removes: string[] = [];
    block.expired.forEach((token, i) => {
      for (const prefix of ['o', 't', 'd']) {
        names[`#${prefix}${i}`] = `${prefix}_${token}`;
        removes.push(`#${prefix}${i}`);
      }
    });
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: recordKeys.feed(scope),
          UpdateExpression: `SET #d = :at${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          // A block already pruned as dead gets no stray close time that nothing would remove.
          ConditionExpression: 'attribute_exists(#own)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':at': this.now().getTime() },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      // Left open, the block holds readers back until it is dead (FEED_BLOCK_MAX_MS): late, not lost.
      logger.warn('could not close a block of feed positions', { error: describeError(error) });
    }
  }

  /** A writer may not write with a block once readers may have given up waiting for it. */
  private checkWindow(block: FeedBlock): void {
    if (this.now().getTime() - block.openedAt > FEED_WRITE_WINDOW_MS)
      throw new FeedBlockExpiredError('the write took too long: its feed positions are no longer held');
  }

  /**
   * The settled end of the feed: the last position below every block still open, closed less
   * than FEED_SETTLE_MS ago, and not yet dead. Everything at or before it is in the index.
   */
  async horizon(scope: RecordScope): Promise<number> {
    return (await this.feedEnds(scope)).horizon;
  }

  private feedEnds(scope: RecordScope) {
    return feedEnds(this.db, this.tableName, scope, this.now().getTime());
  }

  async markErased(scope: RecordScope): Promise<void> {
    // A position of its own, given to no record: a cursor at it or after it was given after the
    // erase began (a page that read nothing, a Records Changed event's `after` of the first write).
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: recordKeys.feed(scope),
        // Both read `next` as it was before this update.
        UpdateExpression:
          'SET #next = if_not_exists(#next, :zero) + :one, erased = if_not_exists(#next, :zero) + :one',
        ExpressionAttributeNames: { '#next': 'next' },
        ExpressionAttributeValues: { ':zero': 0, ':one': 1 },
      }),
    );
  }

  changes(scope: RecordScope, query: FeedQuery): Promise<FeedPage> {
    return readChanges(this.db, this.tableName, scope, query, this.now().getTime());
  }

  async seedFeed(
    scope: RecordScope,
    shouldStop: () => boolean = () => false,
  ): Promise<{ seeded: number; done: boolean }> {
    const key = recordKeys.feed(scope);
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: key,
        ProjectionExpression: 'seeded',
        ConsistentRead: true,
      }),
    );
    if (Item?.seeded === true) return { seeded: 0, done: true };
    const pk = recordKeys.partition(scope);
    let seeded = 0;
    let start: Record<string, unknown> | undefined;
    do {
      if (shouldStop()) return { seeded, done: false };
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ProjectionExpression: 'sk, #resource, seq',
          ExpressionAttributeNames: { '#resource': 'resource' },
          ExpressionAttributeValues: { ':pk': pk },
          Limit: 500,
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      const unplaced = (page.Items ?? []).filter(
        (item) => item.seq === undefined && RECORD_SET.has(item.resource as ResourceName),
      );
      if (unplaced.length > 0) {
        const block = await this.openBlock(scope, unplaced.length);
        try {
          for (const [i, item] of unplaced.entries()) {
            this.checkWindow(block);
            try {
              await this.db.send(
                new UpdateCommand({
                  TableName: this.tableName,
                  Key: { pk, sk: item.sk },
                  UpdateExpression:
                    'SET seq = :seq, feedPk = :pk, firstSeenAt = if_not_exists(firstSeenAt, syncedAt)',
                  // A write since gave it a position of its own.
                  ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(seq)',
                  ExpressionAttributeValues: { ':seq': block.first + i, ':pk': pk },
                }),
              );
              seeded++;
            } catch (error) {
              if (!isConditionFailure(error)) throw error;
            }
          }
        } finally {
          await this.closeBlock(scope, block);
        }
      }
      start = page.LastEvaluatedKey;
    } while (start);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET seeded = :true',
        ExpressionAttributeValues: { ':true': true },
      }),
    );
    return { seeded, done: true };
  }

  async versionsOf(
    scope: RecordScope,
    resource: ResourceName,
    objectIds: string[],
  ): Promise<Map<string, string>> {
    const keys = objectIds.map((id) => {
      const { pk, sk } = recordKeys.record(scope, resource, id);
      return { id, key: `${pk}|${sk}` };
    });
    const stored = await this.storedVersions([...new Set(keys.map((k) => k.key))]);
    const out = new Map<string, string>();
    for (const { id, key } of keys) {
      const found = stored.get(key);
      if (found) out.set(id, found.version);
    }
    return out;
  }

  async versions(scope: RecordScope, resource: ResourceName): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': recordKeys.partition(scope),
          ':prefix': `${resource}#`,
        },
        ProjectionExpression: 'objectId, version',
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        if (item.objectId) out.set(item.objectId as string, item.version as string);
    return out;
  }
}
