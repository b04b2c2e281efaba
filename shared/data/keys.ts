import { type ConnectionRef, LEGACY_SLOT } from '../domain/connection.js';
import type { RecordScope } from '../ports/records-store.js';

/** Every key of the service table, spelled once. */
export const keys = {
  /** One item per connection of the org (`CONNECTION#stripe` is the one older code kept per org). */
  connection: (ref: ConnectionRef) => ({ pk: `ORG#${ref.orgId}`, sk: `CONNECTION#${ref.slot}` }),
  /** Every connection of the org, the legacy one included: a Query with `begins_with`. */
  connections: (orgId: string) => ({ pk: `ORG#${orgId}`, skPrefix: 'CONNECTION#' }),
  /** The slot an item's sort key names (for the due-work index, which projects the keys). */
  slotOfConnectionSk: (sk: string) =>
    sk.startsWith('CONNECTION#') ? sk.slice('CONNECTION#'.length) : undefined,
  oauthState: (stateHash: string) => ({ pk: `STATE#${stateHash}`, sk: 'STATE' }),
  /**
   * One link per connection, so that writing one never overwrites another's and
   * removing one removes only what its connection wrote.
   */
  accountLink: (accountId: string, orgId: string, connectionId: string) => ({
    pk: `ACCOUNT#${accountId}`,
    sk: `ORG#${orgId}#CONN#${connectionId}`,
  }),
  /** A link as written before links were per connection (read and removed, never written). */
  legacyAccountLink: (accountId: string, orgId: string) => ({
    pk: `ACCOUNT#${accountId}`,
    sk: `ORG#${orgId}`,
  }),
  accountLinks: (accountId: string) => ({ pk: `ACCOUNT#${accountId}` }),
  /** Per-org counters (outstanding OAuth states, rate limits). */
  orgCounter: (orgId: string, name: string) => ({ pk: `ORG#${orgId}`, sk: `COUNTER#${name}` }),
  /**
   * An account's Stripe requests counted per second, across every worker and org calling it
   * (`RequestShares`): `ACCOUNT#<acct>#<mode>` / `REQUESTS#<unix second>`.
   */
  requestShare: (accountId: string, mode: string, second: number) => ({
    pk: `ACCOUNT#${accountId}#${mode}`,
    sk: `REQUESTS#${second}`,
  }),
  /** A connection's checkpoint per resource (the legacy connection keeps the keys it had). */
  cursor: (ref: ConnectionRef, resource: string) => ({
    pk: `ORG#${ref.orgId}`,
    sk: ref.slot === LEGACY_SLOT ? `CURSOR#${resource}` : `CURSOR#${ref.slot}#${resource}`,
  }),
  /**
   * A sync run's record (`SyncHistory`), newest last in its connection's range. `|` separates
   * the parts: slots hold `#` (`stripe#test#acct_…`), so `RUN#stripe#` would also match
   * every new slot's runs under the legacy one's; and the connection id keeps a reconnect's
   * runs in the same slot apart.
   */
  syncRun: (ref: ConnectionRef, connectionId: string, startedAt: string, runId: string) => ({
    pk: `ORG#${ref.orgId}`,
    sk: `RUN|${ref.slot}|${connectionId}|${startedAt}|${runId}`,
  }),
  syncRuns: (ref: ConnectionRef, connectionId: string) => ({
    pk: `ORG#${ref.orgId}`,
    skPrefix: `RUN|${ref.slot}|${connectionId}|`,
  }),
  orphanedSecret: (orgId: string, secretName: string) => ({ pk: `ORG#${orgId}`, sk: `ORPHAN#${secretName}` }),
  webhookEvent: (eventId: string) => ({ pk: `EVENT#${eventId}`, sk: 'EVENT' }),
  /** An install Stripe completed, waiting for the user who started it to confirm it. */
  pendingInstall: (installHash: string) => ({ pk: `INSTALL#${installHash}`, sk: 'INSTALL' }),
};

/**
 * Keys of the records table: one partition per org, mode and account (so test and live
 * records never mix), one item per object.
 */
export const recordKeys = {
  partition: (scope: RecordScope) => `ORG#${scope.orgId}#MODE#${scope.mode}#ACCT#${scope.accountId}`,
  /**
   * The partition older code wrote, one per org and account with both modes in it: read
   * only by the migration (`DynamoRecordsStore.migrateLegacyPartition`), which empties it.
   */
  legacyPartition: (orgId: string, accountId: string) => `ORG#${orgId}#ACCT#${accountId}`,
  /** What the migration could not tell the mode of: kept for an operator, never served. */
  unplacedPartition: (orgId: string, accountId: string) => `ORG#${orgId}#UNPLACED#ACCT#${accountId}`,
  record: (scope: RecordScope, resource: string, objectId: string) => ({
    pk: recordKeys.partition(scope),
    sk: `${resource}#${objectId}`,
  }),
  /**
   * What a full re-sync's pass saw in Stripe, one item per object, beside the partition (not
   * in it: never served nor counted), kept a week by the table's TTL.
   */
  seen: (scope: RecordScope, passId: string) => `${recordKeys.partition(scope)}#SEEN#${passId}`,
  /** How many records of each resource the partition holds (none is a resource name: they start with a letter). */
  counts: (scope: RecordScope) => ({
    pk: recordKeys.partition(scope),
    sk: '_counts',
  }),
  /**
   * The partition's change sequence: the last position given (`next`) and the blocks of
   * positions writers hold open (see `DynamoRecordsStore`). Never erased: positions never
   * go back, even for what a later connection of the same account writes.
   */
  feed: (scope: RecordScope) => ({
    pk: recordKeys.partition(scope),
    sk: '_feed',
  }),
};

/** The sparse status index: only connected connections carry these attributes. */
export const CONNECTED_INDEX = { name: 'gsi1', pk: 'CONNECTED' } as const;
export const connectedIndexKeys = (orgId: string) => ({ gsi1pk: CONNECTED_INDEX.pk, gsi1sk: `ORG#${orgId}` });

/**
 * The due-work index (`gsi2`): what the sweep picks up once it is overdue. The
 * sort key is when it falls due (ISO time) and the item's own key after it.
 * Syncs are spread over shards by org so that a nightly fan-out of many
 * thousands of queued syncs does not write to one index partition.
 */
export const DUE_INDEX = { name: 'gsi2', syncShards: 16 } as const;
export type DueKind = 'sync' | 'install' | 'orphan';

function shardOf(orgId: string): number {
  let hash = 0;
  for (let i = 0; i < orgId.length; i++) hash = (hash * 31 + orgId.charCodeAt(i)) >>> 0;
  return hash % DUE_INDEX.syncShards;
}

export const dueKeys = {
  sync: (orgId: string, dueAt: string) => ({
    gsi2pk: `DUE#sync#${shardOf(orgId)}`,
    gsi2sk: `${dueAt}#${orgId}`,
  }),
  install: (installHash: string, dueAt: string) => ({
    gsi2pk: 'DUE#install',
    gsi2sk: `${dueAt}#${installHash}`,
  }),
  orphan: (orgId: string, dueAt: string) => ({ gsi2pk: 'DUE#orphan', gsi2sk: `${dueAt}#${orgId}` }),
  /** Every partition of the index that holds one kind. */
  partitions: (kind: DueKind): string[] =>
    kind === 'sync'
      ? Array.from({ length: DUE_INDEX.syncShards }, (_, shard) => `DUE#sync#${shard}`)
      : [`DUE#${kind}`],
};
