import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { CONNECTED_INDEX, connectedIndexKeys, keys } from '../../data/keys.js';
import type { AccountLink, Connection, OAuthState, SyncStatus } from '../../domain/connection.js';
import {
  type ConnectionStore,
  type StatusTransition,
  VersionConflictError,
} from '../../ports/connection-store.js';
import { conditionalWrite, isConditionFailure } from './document-client.js';

const syncSchema = z.object({
  state: z.enum(['idle', 'queued', 'running', 'failed']),
  lastSuccessAt: z.nullable(z.string()),
  lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
  counts: z.record(z.string(), z.number()),
  progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
  queuedAt: z.nullable(z.string()),
  durationMs: z.optional(z.nullable(z.number())),
});

const connectionItem = z.object({
  orgId: z.string(),
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
});

const stateItem = z.object({
  stateHash: z.string(),
  orgId: z.string(),
  userId: z.string(),
  mode: z.enum(['test', 'live']),
  returnTo: z.string(),
  expiresAt: z.string(),
});

const linkItem = z.object({
  accountId: z.string(),
  orgId: z.string(),
  connectionId: z.string(),
  livemode: z.boolean(),
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

/** Item mapping for connections: keys, the sparse index, and parsing on the way out. */
export const ConnectionItem = {
  toItem(connection: Connection): Record<string, unknown> {
    return {
      ...keys.connection(connection.orgId),
      type: 'connection',
      ...connection,
      ...(connection.status === 'connected' ? connectedIndexKeys(connection.orgId) : {}),
    };
  },
  fromItem(item: Record<string, unknown>): Connection {
    return connectionItem.parse(item);
  },
};

/** The ConnectionStore on DynamoDB (AWS, dynalite and moto alike). */
export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putState(state: OAuthState): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.oauthState(state.stateHash),
          type: 'oauth_state',
          ...state,
          // DynamoDB's TTL only tidies up (and may lag by days): expiry is checked in code.
          ttl: Math.ceil(Date.parse(state.expiresAt) / 1000) + 3600,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async consumeState(stateHash: string): Promise<OAuthState | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.oauthState(stateHash),
          ConditionExpression: 'attribute_exists(pk)',
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ? stateItem.parse(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async getConnection(orgId: string): Promise<Connection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(orgId), ConsistentRead: true }),
    );
    return Item ? ConnectionItem.fromItem(Item) : undefined;
  }

  async putConnection(connection: Connection, expectedVersion: number | null): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: ConnectionItem.toItem(connection),
          ...(expectedVersion === null
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': expectedVersion } }),
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new VersionConflictError(
          `connection of ${connection.orgId} changed (expected version ${expectedVersion})`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  async transition(orgId: string, change: StatusTransition): Promise<Connection | undefined> {
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
    const index = connectedIndexKeys(orgId);
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
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

  async updateSync(orgId: string, connectionId: string, patch: Partial<SyncStatus>): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':cid': connectionId };
    const sets = syncSet(patch, names, values);
    if (sets.length === 0) return true;
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'connectionId = :cid',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  async noteAccountName(orgId: string, connectionId: string, name: string | null): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: 'SET accountName = :name',
          ConditionExpression: 'connectionId = :cid',
          ExpressionAttributeValues: { ':name': name, ':cid': connectionId },
        }),
      ),
    );
  }

  async noteAppEvent(
    orgId: string,
    connectionId: string,
    event: { type: string; id: string; at: string },
  ): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: 'SET lastAppEvent = :event',
          ConditionExpression: 'connectionId = :cid',
          ExpressionAttributeValues: { ':event': event, ':cid': connectionId },
        }),
      ),
    );
  }

  async noteOrphanedSecret(orgId: string, secretName: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.orphanedSecret(orgId, secretName), type: 'orphaned_secret', secretName },
      }),
    );
  }

  async orphanedSecrets(orgId: string): Promise<string[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.connection(orgId).pk, ':prefix': 'ORPHAN#' },
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map((item) => item.secretName as string);
  }

  async forgetOrphanedSecret(orgId: string, secretName: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.orphanedSecret(orgId, secretName) }),
    );
  }

  async clearSecretName(orgId: string, secretName: string): Promise<void> {
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: 'SET secretName = :null',
          ConditionExpression: 'secretName = :name',
          ExpressionAttributeValues: { ':null': null, ':name': secretName },
        }),
      ),
    );
  }

  async acquireRefreshLease(orgId: string, connectionId: string, owner: string, now: number, until: number) {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
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
        }),
      ),
    );
  }

  async releaseRefreshLease(orgId: string, owner: string): Promise<void> {
    // someone else's lease now (ours expired): leave it
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: 'REMOVE refreshLeaseOwner, refreshLeaseUntil',
          ConditionExpression: 'refreshLeaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  async acquireSyncLease(
    orgId: string,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<{ ok: true; connection: Connection } | { ok: false; reason: 'held' | 'gone' }> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression:
            'SET syncLeaseOwner = :owner, syncLeaseUntil = :until, sync.#state = :running, sync.progress = :null, sync.startedAt = :started',
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
            ':started': new Date(now).toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { ok: true, connection: ConnectionItem.fromItem(Attributes as Record<string, unknown>) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const current = await this.getConnection(orgId);
    const gone = !current || current.connectionId !== connectionId || current.status !== 'connected';
    return { ok: false, reason: gone ? 'gone' : 'held' };
  }

  async releaseSyncLease(orgId: string, owner: string, sync: Partial<SyncStatus>): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':owner': owner };
    const sets = syncSet(sync, names, values);
    // the lease ran out and someone else has it: theirs to report
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}REMOVE syncLeaseOwner, syncLeaseUntil`,
          ConditionExpression: 'syncLeaseOwner = :owner',
          ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  async markSyncQueued(
    orgId: string,
    connectionId: string,
    at: string,
    notQueuedSince: string,
  ): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(orgId),
          UpdateExpression: 'SET sync.#state = :queued, sync.queuedAt = :at',
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
          },
        }),
      ),
    );
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

  async takeAllowance(
    orgId: string,
    name: string,
    limit: number,
    windowSeconds: number,
    nowMs: number,
  ): Promise<boolean> {
    const window = Math.floor(nowMs / 1000 / windowSeconds) * windowSeconds;
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.orgCounter(orgId, `${name}#${window}`),
          UpdateExpression: 'ADD uses :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(uses) OR uses < :limit',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': window + windowSeconds + 3600 },
        }),
      ),
    );
  }

  async putAccountLink(link: AccountLink): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.accountLink(link.accountId, link.orgId), type: 'account_link', ...link },
      }),
    );
  }

  async deleteAccountLink(accountId: string, orgId: string, connectionId: string): Promise<void> {
    // gone already, or a newer connection's link
    await conditionalWrite(() =>
      this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.accountLink(accountId, orgId),
          ConditionExpression: 'connectionId = :cid',
          ExpressionAttributeValues: { ':cid': connectionId },
        }),
      ),
    );
  }

  async accountLinks(accountId: string): Promise<AccountLink[]> {
    const links: AccountLink[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.accountLinks(accountId).pk },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) links.push(linkItem.parse(item));
    return links;
  }
}
