import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { Connection, ConnectionRef } from '../../domain/connection.js';
import type { SyncMarks } from '../../ports/sync-marks.js';
import { ConnectionItem, ConnectionItemAdapter, dueValues } from './connection-item.js';
import { isConditionFailure } from './document-client.js';
import { queryDue } from './due-index.js';

/** A connection's queued sync and when it falls due, on the due-work index (`gsi2`), and its manual-sync allowance. */
export class DynamoSyncMarks extends ConnectionItemAdapter implements SyncMarks {
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
}
