import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { CONNECTED_INDEX, connectedIndexKeys, dueKeys, keys } from '../../data/keys.js';
import {
  type AccountLink,
  type Connection,
  type ConnectionRef,
  type Erasure,
  type FullSync,
  LEGACY_SLOT,
  type OAuthState,
  refOf,
  type SyncStatus,
} from '../../domain/connection.js';
import {
  type ConnectionStore,
  type Connections,
  type StatusTransition,
  VersionConflictError,
} from '../../ports/connection-store.js';
import { DynamoAccountLinkStore } from './account-link-store.js';
import { DynamoAllowanceStore } from './allowance-store.js';
import { conditionalWrite, isConditionFailure } from './document-client.js';
import { queryDue } from './due-index.js';
import { DynamoOAuthStateStore } from './oauth-state-store.js';
import { DynamoOrphanedSecretStore } from './orphaned-secret-store.js';

const syncSchema = z.object({
  state: z.enum(['idle', 'queued', 'running', 'failed']),
  lastSuccessAt: z.nullable(z.string()),
  lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
  counts: z.record(z.string(), z.number()),
  progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
  queuedAt: z.nullable(z.string()),
  durationMs: z.optional(z.nullable(z.number())),
  resourceErrors: z.optional(
    z.nullable(z.record(z.string(), z.object({ code: z.string(), message: z.string(), at: z.string() }))),
  ),
});

const connectionItem = z.object({
  orgId: z.string(),
  // Items written before an org could have several connections have no slot: the legacy one.
  slot: z._default(z.string(), LEGACY_SLOT),
  connectionId: z.string(),
  status: z.enum(['connected', 'needs_reauth', 'revoked', 'disconnected']),
  statusReason: z._default(z.nullable(z.string()), null),
  accountId: z.string(),
  accountName: z.optional(z.nullable(z.string())),
  livemode: z.boolean(),
  scope: z.string(),
  secretName: z._default(z.nullable(z.string()), null),
  connectedAt: z.string(),
  connectedBy: z.string(),
  updatedAt: z.string(),
  version: z.number(),
  sync: syncSchema,
  syncLeaseUntil: z.optional(z.nullable(z.number())),
  syncLeaseEpoch: z.optional(z.number()),
  syncAgain: z.optional(z.boolean()),
  countsInDoubt: z.optional(z.nullable(z.string())),
  erasure: z.optional(
    z.nullable(
      z.object({
        state: z.enum(['queued', 'running', 'done']),
        requestedAt: z.string(),
        finishedAt: z.nullable(z.string()),
        items: z.number(),
        after: z.optional(z.nullable(z.string())),
        leaseUntil: z.optional(z.nullable(z.number())),
        cutoff: z.optional(z.nullable(z.string())),
        owner: z.optional(z.nullable(z.string())),
      }),
    ),
  ),
  fullSync: z.optional(
    z.nullable(
      z.object({
        id: z.string(),
        resources: z.array(z.string()),
        state: z.enum(['pending', 'running', 'done']),
        requestedAt: z.string(),
        startedAt: z.nullable(z.string()),
        finishedAt: z.nullable(z.string()),
        swept: z.array(z.string()),
        sweepAfter: z.optional(z.nullable(z.string())),
        added: z.number(),
        updated: z.number(),
        deleted: z.number(),
      }),
    ),
  ),
});

/** `sync.<field> = :v…` for each defined field of a sync-status patch; fills in the names and values. */
function syncSet(
  patch: Partial<SyncStatus>,
  names: Record<string, string>,
  values: Record<string, unknown>,
): string[] {
  return Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([key, value], i) => {
      names[`#f${i}`] = key;
      values[`:v${i}`] = value;
      return `sync.#f${i} = :v${i}`;
    });
}

/** `<map>.<field> = :v…` for each defined field of a patch of a map attribute. */
function fieldSet(
  map: string,
  patch: Record<string, unknown>,
): { sets: string[]; names: Record<string, string>; values: Record<string, unknown> } {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([key, value], i) => {
      names[`#p${i}`] = key;
      values[`:p${i}`] = value;
      return `${map}.#p${i} = :p${i}`;
    });
  return { sets, names, values };
}

/** The due-work index attributes of a connection's sync, as expression values. */
function dueValues(orgId: string, dueAt: string): { ':duePk': string; ':dueSk': string } {
  const due = dueKeys.sync(orgId, dueAt);
  return { ':duePk': due.gsi2pk, ':dueSk': due.gsi2sk };
}

/** Item mapping for connections: keys, the sparse index, and parsing on the way out. */
export const ConnectionItem = {
  toItem(connection: Connection): Record<string, unknown> {
    return {
      ...keys.connection(refOf(connection)),
      type: 'connection',
      ...connection,
      ...(connection.status === 'connected' ? connectedIndexKeys(connection.orgId) : {}),
    };
  },
  fromItem(item: Record<string, unknown>): Connection {
    return connectionItem.parse(item);
  },
};

/** The connections of every org on DynamoDB (AWS, dynalite and moto alike). */
export class DynamoConnections implements Connections {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** An update of the connection's item on its condition: false when the condition did not hold. */
  private updateIf(
    ref: ConnectionRef,
    input: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
  ): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(new UpdateCommand({ TableName: this.tableName, Key: keys.connection(ref), ...input })),
    );
  }

  async getConnection(ref: ConnectionRef): Promise<Connection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(ref), ConsistentRead: true }),
    );
    return Item ? ConnectionItem.fromItem(Item) : undefined;
  }

  async listConnections(orgId: string): Promise<Connection[]> {
    const { pk, skPrefix } = keys.connections(orgId);
    const connections: Connection[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? []) connections.push(ConnectionItem.fromItem(item));
    return connections;
  }

  async putConnection(
    connection: Connection,
    expectedVersion: number | null,
    syncDueAt?: string,
  ): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...ConnectionItem.toItem(connection),
            ...(syncDueAt ? dueKeys.sync(connection.orgId, syncDueAt) : {}),
          },
          ...(expectedVersion === null
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': expectedVersion } }),
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new VersionConflictError(
          `connection ${connection.slot} of ${connection.orgId} changed (expected version ${expectedVersion})`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  async transition(ref: ConnectionRef, change: StatusTransition): Promise<Connection | undefined> {
    const values: Record<string, unknown> = {
      ':cid': change.connectionId,
      ':to': change.to,
      ':reason': change.reason,
      ':at': change.at,
      ':one': 1,
    };
    const from = change.from ?? [];
    from.forEach((status, i) => {
      values[`:from${i}`] = status;
    });
    const fromCondition =
      from.length > 0 ? ` AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})` : '';
    const index = connectedIndexKeys(ref.orgId);
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(ref),
          UpdateExpression:
            change.to === 'connected'
              ? 'SET #status = :to, statusReason = :reason, updatedAt = :at, version = version + :one, gsi1pk = :gpk, gsi1sk = :gsk'
              : 'SET #status = :to, statusReason = :reason, updatedAt = :at, version = version + :one REMOVE gsi1pk, gsi1sk',
          ConditionExpression: `connectionId = :cid${fromCondition}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues:
            change.to === 'connected' ? { ...values, ':gpk': index.gsi1pk, ':gsk': index.gsi1sk } : values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? ConnectionItem.fromItem(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async updateSync(ref: ConnectionRef, connectionId: string, patch: Partial<SyncStatus>): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':cid': connectionId };
    const sets = syncSet(patch, names, values);
    if (sets.length === 0) return true;
    return this.updateIf(ref, {
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'connectionId = :cid',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  async holdsSyncLease(
    ref: ConnectionRef,
    connectionId: string,
    owner: string,
    until: number,
  ): Promise<boolean> {
    return this.updateIf(ref, {
      // A write that changes nothing, for its condition.
      UpdateExpression: 'SET syncLeaseOwner = :owner',
      ConditionExpression:
        'connectionId = :cid AND #status = :connected AND syncLeaseOwner = :owner AND syncLeaseUntil >= :until',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':cid': connectionId,
        ':connected': 'connected',
        ':owner': owner,
        ':until': until,
      },
    });
  }

  async requestErasure(ref: ConnectionRef, connectionId: string, erasure: Erasure): Promise<boolean> {
    return this.updateIf(ref, {
      // The version moves: a reconnect that read the connection before looks again, and waits.
      UpdateExpression: 'SET erasure = :erasure, version = version + :one',
      // One erase at a time: racing requests make one, not one each.
      ConditionExpression:
        'connectionId = :cid AND #status <> :connected AND (attribute_not_exists(erasure) OR erasure = :null OR erasure.#state = :done)',
      ExpressionAttributeNames: { '#status': 'status', '#state': 'state' },
      ExpressionAttributeValues: {
        ':erasure': erasure,
        ':cid': connectionId,
        ':connected': 'connected',
        ':one': 1,
        ':null': null,
        ':done': 'done',
      },
    });
  }

  async updateErasure(
    ref: ConnectionRef,
    connectionId: string,
    requestedAt: string,
    patch: Partial<Erasure>,
    guard?: { owner: string; claimAt?: number },
  ): Promise<boolean> {
    const { sets, names, values } = fieldSet('erasure', guard ? { ...patch, owner: guard.owner } : patch);
    if (sets.length === 0) return true;
    const held =
      guard === undefined
        ? ''
        : guard.claimAt === undefined
          ? ' AND erasure.#owner = :owner'
          : ' AND (erasure.#owner = :owner OR attribute_not_exists(erasure.leaseUntil) OR erasure.leaseUntil = :null OR erasure.leaseUntil < :claimAt)';
    return this.updateIf(ref, {
      // The version moves: a reconnect that read the connection before looks again (and
      // waits for a running erase).
      UpdateExpression: `SET ${sets.join(', ')}, version = version + :one`,
      ConditionExpression: `connectionId = :cid AND #status <> :connected AND erasure.requestedAt = :requested${held}`,
      ExpressionAttributeNames: { ...names, '#status': 'status', ...(guard ? { '#owner': 'owner' } : {}) },
      ExpressionAttributeValues: {
        ...values,
        ':one': 1,
        ':cid': connectionId,
        ':connected': 'connected',
        ':requested': requestedAt,
        ...(guard ? { ':owner': guard.owner } : {}),
        ...(guard?.claimAt !== undefined ? { ':null': null, ':claimAt': guard.claimAt } : {}),
      },
    });
  }

  async requestFullSync(ref: ConnectionRef, connectionId: string, fullSync: FullSync): Promise<boolean> {
    return this.updateIf(ref, {
      // Over one under way too: the new pass starts again from the beginning (one that cannot
      // finish, a resource Stripe refuses for good, say, never blocks the next).
      UpdateExpression: 'SET fullSync = :full',
      ConditionExpression: 'connectionId = :cid AND #status = :connected',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':full': fullSync, ':cid': connectionId, ':connected': 'connected' },
    });
  }

  async updateFullSync(
    ref: ConnectionRef,
    connectionId: string,
    id: string,
    patch: Partial<FullSync>,
  ): Promise<boolean> {
    const { sets, names, values } = fieldSet('fullSync', patch);
    if (sets.length === 0) return true;
    return this.updateIf(ref, {
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'connectionId = :cid AND fullSync.id = :id',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ...values, ':cid': connectionId, ':id': id },
    });
  }

  async noteAccountName(ref: ConnectionRef, connectionId: string, name: string | null): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET accountName = :name',
      ConditionExpression: 'connectionId = :cid',
      ExpressionAttributeValues: { ':name': name, ':cid': connectionId },
    });
  }

  async noteAppEvent(
    ref: ConnectionRef,
    connectionId: string,
    event: { type: string; id: string; at: string },
  ): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET lastAppEvent = :event',
      ConditionExpression: 'connectionId = :cid',
      ExpressionAttributeValues: { ':event': event, ':cid': connectionId },
    });
  }

  async clearSecretName(ref: ConnectionRef, secretName: string): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'SET secretName = :null',
      ConditionExpression: 'secretName = :name',
      ExpressionAttributeValues: { ':null': null, ':name': secretName },
    });
  }

  async acquireRefreshLease(
    ref: ConnectionRef,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ) {
    return this.updateIf(ref, {
      UpdateExpression: 'SET refreshLeaseOwner = :owner, refreshLeaseUntil = :until',
      ConditionExpression:
        'connectionId = :cid AND #status = :connected AND (attribute_not_exists(refreshLeaseUntil) OR refreshLeaseUntil < :now)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':owner': owner,
        ':until': until,
        ':cid': connectionId,
        ':connected': 'connected',
        ':now': now,
      },
    });
  }

  async releaseRefreshLease(ref: ConnectionRef, owner: string): Promise<void> {
    // someone else's lease now (ours expired): leave it
    await this.updateIf(ref, {
      UpdateExpression: 'REMOVE refreshLeaseOwner, refreshLeaseUntil',
      ConditionExpression: 'refreshLeaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': owner },
    });
  }

  async acquireSyncLease(
    ref: ConnectionRef,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<
    { ok: true; connection: Connection; abandoned: boolean } | { ok: false; reason: 'held' | 'gone' }
  > {
    try {
      const startedAt = new Date(now).toISOString();
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(ref),
          UpdateExpression:
            'SET syncLeaseOwner = :owner, syncLeaseUntil = :until, sync.#state = :running, sync.progress = :null, sync.startedAt = :started, gsi2pk = :duePk, gsi2sk = :dueSk ADD syncLeaseEpoch :one',
          ConditionExpression:
            'connectionId = :cid AND #status = :connected AND (attribute_not_exists(syncLeaseUntil) OR syncLeaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status', '#state': 'state' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':until': until,
            ':cid': connectionId,
            ':connected': 'connected',
            ':now': now,
            ':running': 'running',
            ':null': null,
            ':started': startedAt,
            ':one': 1,
            ...dueValues(ref.orgId, new Date(until).toISOString()),
          },
          // The item as it was: whether a lease was left behind by a run that never ended.
          ReturnValues: 'ALL_OLD',
        }),
      );
      const old = ConnectionItem.fromItem(Attributes as Record<string, unknown>);
      const connection: Connection = {
        ...old,
        sync: { ...old.sync, state: 'running', progress: null },
        syncLeaseUntil: until,
        syncLeaseEpoch: (old.syncLeaseEpoch ?? 0) + 1,
      };
      return { ok: true, connection, abandoned: typeof Attributes?.syncLeaseOwner === 'string' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const current = await this.getConnection(ref);
    const gone = !current || current.connectionId !== connectionId || current.status !== 'connected';
    return { ok: false, reason: gone ? 'gone' : 'held' };
  }

  async requestSyncAgain(ref: ConnectionRef, connectionId: string, now: number): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET syncAgain = :true',
      ConditionExpression:
        'connectionId = :cid AND attribute_exists(syncLeaseOwner) AND syncLeaseUntil >= :now',
      ExpressionAttributeValues: { ':true': true, ':cid': connectionId, ':now': now },
    });
  }

  async noteCountsInDoubt(ref: ConnectionRef, connectionId: string): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'SET countsInDoubt = :token',
      ConditionExpression: 'connectionId = :cid',
      ExpressionAttributeValues: { ':token': randomUUID(), ':cid': connectionId },
    });
  }

  async clearCountsInDoubt(ref: ConnectionRef, token: string): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'REMOVE countsInDoubt',
      ConditionExpression: 'countsInDoubt = :token',
      ExpressionAttributeValues: { ':token': token },
    });
  }

  async renewSyncLease(ref: ConnectionRef, owner: string, until: number): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET syncLeaseUntil = :until, gsi2pk = :duePk, gsi2sk = :dueSk',
      ConditionExpression: 'syncLeaseOwner = :owner',
      ExpressionAttributeValues: {
        ':owner': owner,
        ':until': until,
        ...dueValues(ref.orgId, new Date(until).toISOString()),
      },
    });
  }

  async releaseSyncLease(
    ref: ConnectionRef,
    owner: string,
    sync: Partial<SyncStatus>,
    dueAt?: string,
    options: { countsInDoubt?: boolean } = {},
  ): Promise<{ released: boolean; syncAgain: boolean }> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':owner': owner };
    const sets = syncSet(sync, names, values);
    if (dueAt) {
      Object.assign(values, dueValues(ref.orgId, dueAt));
      sets.push('gsi2pk = :duePk', 'gsi2sk = :dueSk');
    }
    if (options.countsInDoubt) {
      values[':doubt'] = randomUUID();
      sets.push('countsInDoubt = :doubt');
    }
    const remove = dueAt
      ? 'REMOVE syncLeaseOwner, syncLeaseUntil, syncAgain'
      : 'REMOVE syncLeaseOwner, syncLeaseUntil, syncAgain, gsi2pk, gsi2sk';
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(ref),
          UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}${remove}`,
          ConditionExpression: 'syncLeaseOwner = :owner',
          ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_OLD',
        }),
      );
      return { released: true, syncAgain: Attributes?.syncAgain === true };
    } catch (error) {
      // the lease ran out and someone else has it: theirs to report
      if (isConditionFailure(error)) return { released: false, syncAgain: false };
      throw error;
    }
  }

  async markSyncQueued(
    ref: ConnectionRef,
    connectionId: string,
    at: string,
    notQueuedSince: string,
    dueAt: string,
  ): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET sync.#state = :queued, sync.queuedAt = :at, gsi2pk = :duePk, gsi2sk = :dueSk',
      ConditionExpression:
        'connectionId = :cid AND #status = :connected AND (attribute_not_exists(syncLeaseUntil) OR syncLeaseUntil < :nowMs) AND (attribute_not_exists(sync.queuedAt) OR sync.queuedAt = :null OR sync.queuedAt < :since)',
      ExpressionAttributeNames: { '#status': 'status', '#state': 'state' },
      ExpressionAttributeValues: {
        ':queued': 'queued',
        ':at': at,
        ':cid': connectionId,
        ':connected': 'connected',
        ':null': null,
        ':since': notQueuedSince,
        ':nowMs': Date.parse(at),
        ...dueValues(ref.orgId, dueAt),
      },
    });
  }

  async takeManualSync(ref: ConnectionRef, connectionId: string, nowMs: number, intervalMs: number) {
    const taken = await this.updateIf(ref, {
      UpdateExpression: 'SET manualSyncAt = :now',
      ConditionExpression:
        'connectionId = :cid AND #status = :connected AND (attribute_not_exists(manualSyncAt) OR manualSyncAt <= :cutoff)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':now': nowMs,
        ':cid': connectionId,
        ':connected': 'connected',
        ':cutoff': nowMs - intervalMs,
      },
    });
    if (taken) return { ok: true as const };
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.connection(ref),
        ProjectionExpression: 'manualSyncAt',
        ConsistentRead: true,
      }),
    );
    const last = typeof Item?.manualSyncAt === 'number' ? Item.manualSyncAt : nowMs;
    return { ok: false as const, retryAfterMs: Math.max(1000, last + intervalMs - nowMs) };
  }

  async returnManualSync(ref: ConnectionRef, connectionId: string, takenAtMs: number): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'REMOVE manualSyncAt',
      ConditionExpression: 'connectionId = :cid AND manualSyncAt = :taken',
      ExpressionAttributeValues: { ':cid': connectionId, ':taken': takenAtMs },
    });
  }

  async setSyncDue(ref: ConnectionRef, connectionId: string, dueAt: string): Promise<void> {
    // Only while the sync is still waiting: a run that has started set its own.
    await this.updateIf(ref, {
      UpdateExpression: 'SET gsi2pk = :duePk, gsi2sk = :dueSk',
      ConditionExpression: 'connectionId = :cid AND sync.#state = :queued AND attribute_exists(gsi2pk)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':cid': connectionId,
        ':queued': 'queued',
        ...dueValues(ref.orgId, dueAt),
      },
    });
  }

  async *dueSyncs(now: string): AsyncIterable<ConnectionRef> {
    for (const key of queryDue(this.db, this.tableName, 'sync', now))
      for await (const item of key) {
        const slot = keys.slotOfConnectionSk(item.sk);
        if (slot) yield { orgId: item.orgId, slot };
      }
  }

  async requeueStalled(ref: ConnectionRef, now: string, dueAt: string): Promise<Connection | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(ref),
          UpdateExpression:
            'SET sync.#state = :queued, sync.queuedAt = :now, sync.progress = :null, gsi2pk = :duePk, gsi2sk = :dueSk, countsInDoubt = :doubt REMOVE syncLeaseOwner, syncLeaseUntil',
          ConditionExpression:
            '#status = :connected AND attribute_exists(gsi2pk) AND gsi2sk <= :nowKey AND (attribute_not_exists(syncLeaseUntil) OR syncLeaseUntil < :nowMs)',
          ExpressionAttributeNames: { '#status': 'status', '#state': 'state' },
          ExpressionAttributeValues: {
            ':queued': 'queued',
            ':now': now,
            ':null': null,
            ':connected': 'connected',
            ':nowKey': `${now}#~`,
            ':nowMs': Date.parse(now),
            // The run it takes over may have stored a page without counting it.
            ':doubt': randomUUID(),
            ...dueValues(ref.orgId, dueAt),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? ConnectionItem.fromItem(Attributes) : undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // Not a stalled sync (any more): a connection that ended leaves the index.
    await this.updateIf(ref, {
      UpdateExpression: 'REMOVE gsi2pk, gsi2sk',
      ConditionExpression: 'attribute_exists(pk) AND #status <> :connected',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':connected': 'connected' },
    });
    return undefined;
  }

  async connectedPage(limit: number, startKey?: Record<string, unknown>) {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: CONNECTED_INDEX.name,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': CONNECTED_INDEX.pk },
        Limit: limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    return {
      connections: (page.Items ?? []).map((item) => ConnectionItem.fromItem(item)),
      ...(page.LastEvaluatedKey ? { next: page.LastEvaluatedKey } : {}),
    };
  }
}

/**
 * The ConnectionStore port on DynamoDB: the connections (above) and, each from its own
 * adapter, OAuth states, account links, allowances and orphan notes, in the one table.
 */
export class DynamoConnectionStore extends DynamoConnections implements ConnectionStore {
  private readonly states: DynamoOAuthStateStore;
  private readonly links: DynamoAccountLinkStore;
  private readonly allowances: DynamoAllowanceStore;
  private readonly orphans: DynamoOrphanedSecretStore;

  constructor(db: DynamoDBDocumentClient, tableName: string) {
    super(db, tableName);
    this.states = new DynamoOAuthStateStore(db, tableName);
    this.links = new DynamoAccountLinkStore(db, tableName);
    this.allowances = new DynamoAllowanceStore(db, tableName);
    this.orphans = new DynamoOrphanedSecretStore(db, tableName);
  }

  putState(state: OAuthState) {
    return this.states.putState(state);
  }
  consumeState(stateHash: string) {
    return this.states.consumeState(stateHash);
  }
  putAccountLink(link: AccountLink) {
    return this.links.putAccountLink(link);
  }
  deleteAccountLink(accountId: string, orgId: string, connectionId: string) {
    return this.links.deleteAccountLink(accountId, orgId, connectionId);
  }
  accountLinks(accountId: string) {
    return this.links.accountLinks(accountId);
  }
  takeAllowance(orgId: string, name: string, limit: number, windowSeconds: number, nowMs: number) {
    return this.allowances.takeAllowance(orgId, name, limit, windowSeconds, nowMs);
  }
  noteOrphanedSecret(orgId: string, secretName: string, dueAt?: string) {
    return this.orphans.noteOrphanedSecret(orgId, secretName, dueAt);
  }
  dueOrphans(now: string) {
    return this.orphans.dueOrphans(now);
  }
  orphanedSecrets(orgId: string) {
    return this.orphans.orphanedSecrets(orgId);
  }
  forgetOrphanedSecret(orgId: string, secretName: string) {
    return this.orphans.forgetOrphanedSecret(orgId, secretName);
  }
}
