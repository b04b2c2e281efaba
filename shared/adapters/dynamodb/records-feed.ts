import { gunzipSync } from 'node:zlib';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { recordKeys } from '../../data/keys.js';
import {
  type FeedChange,
  FeedCursorAheadError,
  FeedCursorErasedError,
  type FeedPage,
  type FeedQuery,
  type RecordScope,
  type RecordsStore,
} from '../../ports/records-store.js';
import type { ResourceName, StripeObject } from '../../records/registry.js';

/*
 * The change feed's read side: what the records function needs, apart from the records store's
 * writing (its bundle, and so its cold start, carries only this).
 */

/**
 * How long a reader keeps away from a block of positions after its writer closed it: the
 * feed index (a GSI) is updated after the table, DynamoDB says within a fraction of a second.
 */
export const FEED_SETTLE_MS = 2000;
/**
 * A block not closed this long after it was opened is dead: its writer may not write with it
 * past `FEED_WRITE_WINDOW_MS` (it opens another), so readers stop waiting for it.
 */
export const FEED_BLOCK_MAX_MS = 10 * 60_000;

/** A feed item as the API serves it: the object as stored, and what happened to it. */
function feedChange(item: Record<string, unknown>): FeedChange {
  const lastModifiedAt = String(item.syncedAt);
  const firstSeenAt = typeof item.firstSeenAt === 'string' ? item.firstSeenAt : lastModifiedAt;
  return {
    resource: item.resource as ResourceName,
    objectId: String(item.objectId),
    seq: Number(item.seq),
    action: item.deleted === true ? 'deleted' : firstSeenAt === lastModifiedAt ? 'added' : 'updated',
    firstSeenAt,
    lastModifiedAt,
    ...(typeof item.apiVersion === 'string' ? { apiVersion: item.apiVersion } : {}),
    ...(typeof item.parentId === 'string' ? { parentId: item.parentId } : {}),
    object: JSON.parse(gunzipSync(item.data as Uint8Array).toString('utf8')) as StripeObject,
  };
}

/**
 * The settled end (`horizon`), the last position handed out to a writer (`end`), and where the
 * last erase began (`erased`: every position below it was the erased connection's).
 */
export async function feedEnds(
  db: DynamoDBDocumentClient,
  tableName: string,
  scope: RecordScope,
  now: number,
): Promise<{ horizon: number; end: number; erased: number }> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName, Key: recordKeys.feed(scope), ConsistentRead: true }),
  );
  if (!Item) return { horizon: 0, end: 0, erased: 0 };
  const erased = Number(Item.erased ?? 0);
  const end = Number(Item.next ?? 0);
  let horizon = end;
  for (const name of Object.keys(Item)) {
    if (!name.startsWith('o_')) continue;
    const token = name.slice(2);
    const closed = Item[`d_${token}`];
    const held =
      typeof closed === 'number'
        ? now - closed < FEED_SETTLE_MS
        : now - Number(Item[`t_${token}`] ?? 0) < FEED_BLOCK_MAX_MS;
    if (held) horizon = Math.min(horizon, Number(Item[name]));
  }
  return { horizon, end, erased };
}

export async function readChanges(
  db: DynamoDBDocumentClient,
  tableName: string,
  scope: RecordScope,
  query: FeedQuery,
  now: number,
): Promise<FeedPage> {
  const { horizon, end, erased } = await feedEnds(db, tableName, scope, now);
  // Past every position ever handed out: no page gave this cursor (a reader holding it would
  // wait there for ever, seeing nothing, as the feed grew beneath it).
  if (query.after > end) throw new FeedCursorAheadError();
  // Given before an erase: its reader holds records the erase removed with no `deleted` change.
  if (query.after > 0 && query.after < erased) throw new FeedCursorErasedError();
  // From the start: from the erase on (what is below it was the erased connection's, or still
  // is, while the erase runs). Until the feed settles past the mark, the start stays the start.
  const from = query.after === 0 ? erased : query.after;
  if (from >= horizon) return { changes: [], next: from > horizon ? query.after : from, hasMore: false };
  const filters: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {
    ':fp': recordKeys.partition(scope),
    ':lo': from + 1,
    ':hi': horizon,
  };
  if (query.resources && query.resources.length > 0) {
    names['#resource'] = 'resource';
    filters.push(
      `#resource IN (${query.resources
        .map((r, i) => {
          values[`:r${i}`] = r;
          return `:r${i}`;
        })
        .join(', ')})`,
    );
  }
  if (query.actions && query.actions.length > 0 && query.actions.length < 3) {
    values[':true'] = true;
    const either = query.actions.map((action) =>
      action === 'deleted'
        ? 'deleted = :true'
        : action === 'added'
          ? '(deleted <> :true AND firstSeenAt = syncedAt)'
          : '(deleted <> :true AND firstSeenAt <> syncedAt)',
    );
    filters.push(`(${either.join(' OR ')})`);
  }
  if (query.modifiedAfter) {
    values[':m'] = query.modifiedAfter;
    filters.push('syncedAt > :m');
  }
  const changes: FeedChange[] = [];
  let next = from;
  let start: Record<string, unknown> | undefined;
  // A filter that matches little reads on, but not forever: the cursor moves past what it read.
  let budget = Math.max(query.limit * 10, 5000);
  const filtered = filters.length > 0;
  // Filtered, DynamoDB's Limit counts what it reads, not what the filter keeps: a query reads
  // what the page still needs (at least a page of 100), and each further query four times more,
  // up to what is left of the budget. A filter that matches most records reads about the page;
  // one that matches little reads the budget in a few queries, not a query per record.
  let reading = Math.max(query.limit, 100);
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'feed',
        KeyConditionExpression: 'feedPk = :fp AND seq BETWEEN :lo AND :hi',
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        // What the page serves, not the record's queryable attributes.
        ProjectionExpression:
          '#resource, objectId, seq, syncedAt, firstSeenAt, deleted, apiVersion, parentId, #data',
        ExpressionAttributeNames: { ...names, '#resource': 'resource', '#data': 'data' },
        ExpressionAttributeValues: values,
        Limit: filtered ? Math.min(reading, budget) : query.limit - changes.length,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    budget -= page.ScannedCount ?? 0;
    reading *= 4;
    start = page.LastEvaluatedKey;
    next = start ? Number(start.seq) : horizon;
    for (const item of page.Items ?? []) {
      if (changes.length === query.limit) {
        // More matched than the page holds: it ends at the last one it serves.
        next = (changes[changes.length - 1] as FeedChange).seq;
        start = undefined;
        break;
      }
      changes.push(feedChange(item));
    }
  } while (start && changes.length < query.limit && budget > 0);
  return { changes, next, hasMore: next < horizon };
}

/** The change feed, read only (the records function's). */
export class DynamoRecordsFeed implements Pick<RecordsStore, 'changes'> {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  changes(scope: RecordScope, query: FeedQuery): Promise<FeedPage> {
    return readChanges(this.db, this.tableName, scope, query, this.now().getTime());
  }
}
