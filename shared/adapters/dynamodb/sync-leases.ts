import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { Connection, ConnectionRef, SyncStatus } from '../../domain/connection.js';
import type { SyncLeases } from '../../ports/sync-leases.js';
import { ConnectionItem, ConnectionItemAdapter, dueValues, syncSet } from './connection-item.js';
import { isConditionFailure } from './document-client.js';

/** The refresh and sync leases on a connection's item, each taken and given back on a condition. */
export class DynamoSyncLeases extends ConnectionItemAdapter implements SyncLeases {
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
    const current = await this.readConnection(ref);
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
}
