import type { ConnectionRef, Erasure, FullSync } from '../../domain/connection.js';
import type { ConnectionRequests } from '../../ports/connection-requests.js';
import { ConnectionItemAdapter, fieldSet } from './connection-item.js';

/** The erase and the full re-sync asked of a connection, kept on its item. */
export class DynamoConnectionRequests extends ConnectionItemAdapter implements ConnectionRequests {
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
}
