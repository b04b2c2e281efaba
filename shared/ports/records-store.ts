import type { Mode } from '../domain/connection.js';
import type { LinedResource, LineResourceName, ResourceName, StripeObject } from '../records/registry.js';

/**
 * Where an account's records live: one partition per org, mode and account, so test and
 * live records of one account never mix and either can be read, re-synced or erased alone.
 */
export interface RecordScope {
  orgId: string;
  mode: Mode;
  accountId: string;
}

/** The records partition of a connection: its org, its mode, its account. */
export function scopeOf(connection: { orgId: string; accountId: string; livemode: boolean }): RecordScope {
  return {
    orgId: connection.orgId,
    mode: connection.livemode ? 'live' : 'test',
    accountId: connection.accountId,
  };
}

export interface RecordWrite extends RecordScope {
  resource: ResourceName;
  object: StripeObject;
  /** From `recordVersion`: an older version never overwrites a newer one; an equal one is a no-op. */
  version: string;
  source: 'sync' | 'webhook';
  /** The object was deleted in Stripe (a draft invoice, say). */
  deleted?: boolean;
  /** The webhook event that brought it (a retried event can tell its own earlier write). */
  eventId?: string;
  /** The Stripe API version that rendered the object (its shape). */
  apiVersion?: string;
  /** A line's record: the id of the invoice or credit note that holds it. */
  parentId?: string;
  /** An invoice's or credit note's record: the ids of all its lines (to tell which ones a later version drops). */
  lineIds?: string[];
}

/**
 * The records of an invoice's, credit note's or subscription's lines: each at its holder's
 * version, from the same writer and event, deleted when the holder is.
 */
export function lineWrites(
  holder: RecordWrite,
  resource: LineResourceName,
  lines: StripeObject[],
): RecordWrite[] {
  return lines.map((line) => ({
    orgId: holder.orgId,
    mode: holder.mode,
    accountId: holder.accountId,
    resource,
    object: line,
    version: holder.version,
    source: holder.source,
    parentId: holder.object.id,
    deleted: holder.deleted === true,
    ...(holder.eventId ? { eventId: holder.eventId } : {}),
    ...(holder.apiVersion ? { apiVersion: holder.apiVersion } : {}),
  }));
}

/** The line ids `before` had that `now` has not (to be marked deleted). */
export function droppedLines(before: readonly string[], now: readonly string[]): string[] {
  const kept = new Set(now);
  return before.filter((id) => !kept.has(id));
}

export interface PutResult {
  outcome: 'written' | 'stale';
  /** The change in the resource's count of records not deleted (+1 new, −1 now deleted, 0). */
  delta: number;
  /** When stale: what is stored instead. */
  stored?: { version: string; eventId?: string };
}

export type RecordCounts = Partial<Record<ResourceName, number>>;

/** What a write did to a record, as the change feed tells it. */
export type ChangeAction = 'added' | 'updated' | 'deleted';

/**
 * The writes of one batch (a sync run, a webhook): what they did per resource and the feed
 * positions they took (`first`..`last`), for `Stripe Records Changed`. Filled by the store.
 */
export interface ChangeTally {
  resources: Partial<Record<ResourceName, Record<ChangeAction, number>>>;
  first?: number;
  last?: number;
}

export const newTally = (): ChangeTally => ({ resources: {} });

export function tallyChange(
  tally: ChangeTally | undefined,
  resource: ResourceName,
  action: ChangeAction,
  seq: number,
) {
  if (!tally) return;
  tally.resources[resource] ??= { added: 0, updated: 0, deleted: 0 };
  tally.resources[resource][action]++;
  tally.first = Math.min(tally.first ?? seq, seq);
  tally.last = Math.max(tally.last ?? seq, seq);
}

/** One change of the feed: the record as stored now, at its position. */
export interface FeedChange {
  resource: ResourceName;
  objectId: string;
  seq: number;
  action: ChangeAction;
  firstSeenAt: string;
  lastModifiedAt: string;
  apiVersion?: string;
  /** A line's record: the invoice, credit note or subscription that holds it. */
  parentId?: string;
  object: StripeObject;
}

/** A feed position past every one handed out: no page of this feed gave it. */
export class FeedCursorAheadError extends Error {
  constructor() {
    super('the cursor is past the end of the feed');
    this.name = 'FeedCursorAheadError';
  }
}

/**
 * A feed position from before the partition's records were erased: the reader holding it holds
 * records the erase removed without a `deleted` change each, so it must read again from the start.
 */
export class FeedCursorErasedError extends Error {
  constructor() {
    super('the cursor is from before the records were erased');
    this.name = 'FeedCursorErasedError';
  }
}

export interface FeedQuery {
  /** Changes after this position (0: from the start). */
  after: number;
  limit: number;
  resources?: ResourceName[];
  actions?: ChangeAction[];
  /** Only records last written after this time (ISO). */
  modifiedAfter?: string;
}

export interface FeedPage {
  changes: FeedChange[];
  /** Where the next page starts: the last position this page looked at. */
  next: number;
  /** More changes may follow `next` now; false: the reader is at the settled end of the feed. */
  hasMore: boolean;
}

export type { LinedResource };

/** A record's stored version, as a writer needs it: to skip what is older, count and tally. */
export interface StoredVersion {
  version: string;
  deleted: boolean;
  firstSeenAt?: string;
  lineIds?: string[];
}

/**
 * What one run knows is stored for one resource of a partition (see `knownVersions`): the
 * version of every stored record by key. It stops being usable (`valid` false) once a write
 * given it fails: what landed is then unknown, and later writes read first again.
 */
export interface KnownVersions {
  readonly resource: ResourceName;
  readonly versions: Map<string, StoredVersion>;
  valid: boolean;
}

export interface StoredRecord extends RecordScope {
  resource: ResourceName;
  objectId: string;
  version: string;
  source: 'sync' | 'webhook';
  deleted: boolean;
  apiVersion?: string;
  object: StripeObject;
}

/** Synced Stripe objects, one item per object, under the version guard. */
export interface RecordsStore {
  /** One conditional write: 'stale' when an equal or newer version is stored. */
  put(record: RecordWrite, tally?: ChangeTally): Promise<PutResult>;
  /**
   * Many at once (BatchWriteItem, 25 a call, unprocessed items retried). Batch
   * writes cannot be conditional: stored versions are read first and older
   * writes skipped. Only the connection's sync run calls it, holding its lease,
   * while webhooks leave their changes to that run (see `processWebhookMessage`):
   * nobody else writes between the read and the write.
   */
  putMany(
    records: RecordWrite[],
    tally?: ChangeTally,
    /** What the run already knows is stored for these records' resource: no read before the write. */
    known?: KnownVersions,
  ): Promise<{
    written: number;
    created: number;
    stale: number;
    batchCalls: number;
    /** The change in each resource's count of records not deleted. */
    deltas: RecordCounts;
  }>;
  /**
   * Everything stored for one resource of the partition, read once, when it is at most `limit`
   * records (a first backfill's partition holds none, or what a few webhooks wrote before the
   * run took its lease); undefined when there are more. Kept up to date by the `putMany` calls
   * given it, so a run that is the partition's only writer (it holds the lease, and webhooks
   * leave their changes to it) needs no read before each batch of that resource.
   */
  knownVersions(
    scope: RecordScope,
    resource: ResourceName,
    limit?: number,
  ): Promise<KnownVersions | undefined>;
  /** Adds to the partition's counts (after the writes that changed them). */
  addCounts(scope: RecordScope, deltas: RecordCounts): Promise<void>;
  /** The partition's counts; undefined before anything was counted there. */
  counts(scope: RecordScope): Promise<RecordCounts | undefined>;
  /** Counts one resource's stored records (not deleted) afresh and keeps that as its count. */
  recount(scope: RecordScope, resource: ResourceName): Promise<number>;
  /** Every resource's `recount` in one read of the partition and one write. */
  recountAll(scope: RecordScope): Promise<RecordCounts>;
  /**
   * What the partition's counts can be trusted for: which connection last counted every
   * resource afresh (`countedFor`), and a doubt a writer left (it may have written without
   * counting). Kept with the counts, so a reconnect (a new connection item) loses neither.
   */
  countsState(scope: RecordScope): Promise<{ countedFor?: string; doubt?: string } | undefined>;
  /** A writer may have written without counting: the next run counts afresh. */
  markCountsInDoubt(scope: RecordScope): Promise<void>;
  /** Every resource was counted afresh by `connectionId`'s run; forgets `doubt` unless a newer one replaced it. */
  countsSettled(scope: RecordScope, connectionId: string, doubt?: string): Promise<void>;
  /**
   * Lines past the page Stripe embeds in an invoice or credit note, in their own items (100
   * lines each), so the object's item stays under DynamoDB's 400 KB; pages an older version
   * left beyond these go.
   */
  putLines(
    scope: RecordScope,
    resource: LinedResource,
    parentId: string,
    version: string,
    lines: StripeObject[],
  ): Promise<void>;
  /** Deletes line pages older than `version` (a draft whose lines now all fit in it). */
  deleteLinePages(
    scope: RecordScope,
    resource: LinedResource,
    parentId: string,
    version: string,
  ): Promise<void>;
  lines(scope: RecordScope, resource: LinedResource, parentId: string): Promise<StripeObject[]>;
  /** The stored version of some invoices or credit notes, and the ids of their lines then (strongly consistent). */
  storedLines(
    scope: RecordScope,
    resource: LinedResource,
    parentIds: string[],
  ): Promise<Map<string, { version: string; lineIds: string[] }>>;
  /**
   * Marks these lines deleted as of `version` (the version of their holder that no longer has
   * them), each unless a newer version of it is stored; the last object stored stays. Returns
   * the change in the resource's count (minus the lines that were live).
   */
  markLinesDeleted(
    scope: RecordScope,
    resource: LineResourceName,
    lineIds: string[],
    version: string,
    tally?: ChangeTally,
  ): Promise<number>;
  get(scope: RecordScope, resource: ResourceName, objectId: string): Promise<StoredRecord | undefined>;
  /** The stored versions of some objects of one resource (absent: not stored). */
  versionsOf(scope: RecordScope, resource: ResourceName, objectIds: string[]): Promise<Map<string, string>>;
  /**
   * Moves the records older code kept for an org's account in one partition for both modes
   * into the partition of each one's mode (`mode`: the connection's, which takes all when
   * no record says otherwise): idempotent, resumable, one Query when done. `unplaced`: the
   * resources some of whose records could not be placed (kept aside): read them again.
   */
  migrateLegacyPartition(
    orgId: string,
    accountId: string,
    mode: Mode,
    /** Checked before each item: true stops the move (`done: false`), which the next call resumes. */
    shouldStop?: () => boolean,
    /** Called before anything moves with the resources some records of which will be put aside. */
    beforeAside?: (resources: ResourceName[]) => Promise<void>,
  ): Promise<{ moved: number; unplaced: ResourceName[]; done: boolean }>;
  /** A full re-sync's pass `passId` saw these objects of `resource` in Stripe. */
  noteSeen(scope: RecordScope, passId: string, resource: ResourceName, objectIds: string[]): Promise<void>;
  /**
   * Once a full re-sync's pass has read every object of `resource`: marks deleted each record
   * that the pass did not see and nobody wrote since `since` (ISO, when the pass began), as
   * Stripe no longer returns it, with the version `version` gives. Resumable from `after`.
   */
  markUnseenDeleted(
    scope: RecordScope,
    passId: string,
    resource: ResourceName,
    since: string,
    version: (object: StripeObject) => string,
    options?: {
      after?: string | undefined;
      shouldStop?: () => boolean;
      /** Objects the pass could not have seen though Stripe has them (a test-clock customer): kept. */
      keep?: (object: StripeObject) => boolean;
      tally?: ChangeTally;
    },
  ): Promise<{ deleted: number; done: boolean; after?: string }>;
  /**
   * Erases the partition: every item last written before `before` (ISO), its counts too.
   * What a later connection wrote since stays. Resumable from `after`.
   */
  eraseBefore(
    scope: RecordScope,
    before: string,
    options?: {
      after?: string | undefined;
      /** Asked before each page (and told where it stands): false stops the erase there. */
      beforePage?: (progress: { erased: number; after: string | undefined }) => Promise<boolean>;
    },
  ): Promise<{ erased: number; done: boolean; after?: string }>;
  /**
   * The partition's changes after a position, in order, up to the settled end of the feed:
   * no position a writer still holds, nor one written too recently for the index to hold it.
   */
  changes(scope: RecordScope, query: FeedQuery): Promise<FeedPage>;
  /**
   * Marks the feed erased from here: every position handed out so far was the erased
   * connection's. A cursor among them is refused (`FeedCursorErasedError`), and a read from the
   * start begins after them. Called as an erase begins; again, it only moves the mark on.
   */
  markErased(scope: RecordScope): Promise<void>;
  /**
   * Gives a position to every record written before the feed existed (once per partition,
   * resumable): until then the feed lacks them. `done: false` when `shouldStop` stopped it.
   */
  seedFeed(scope: RecordScope, shouldStop?: () => boolean): Promise<{ seeded: number; done: boolean }>;
  /** Ids and versions of one resource (tests, reconciliation). */
  versions(scope: RecordScope, resource: ResourceName): Promise<Map<string, string>>;
}
