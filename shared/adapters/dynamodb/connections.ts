import { PutCommand, paginateQuery, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONNECTED_INDEX, connectedIndexKeys, dueKeys, keys } from '../../data/keys.js';
import type { Connection, ConnectionRef, SyncStatus } from '../../domain/connection.js';
import type { Connections } from '../../ports/connections.js';
import { type StatusTransition, VersionConflictError } from '../../ports/connections.js';
import { ConnectionItem, ConnectionItemAdapter, syncSet } from './connection-item.js';
import { isConditionFailure } from './document-client.js';

/** The connections of every org on DynamoDB (AWS, dynalite and moto alike). */
export class DynamoConnections extends ConnectionItemAdapter implements Connections {
  getConnection(ref: ConnectionRef): Promise<Connection | undefined> {
    return this.readConnection(ref);
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

  async noteUninstallInDoubt(ref: ConnectionRef, connectionId: string, at: string): Promise<boolean> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET uninstallInDoubt = :at',
      ConditionExpression: 'connectionId = :cid AND #status = :connected',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':at': at, ':cid': connectionId, ':connected': 'connected' },
    });
  }

  async clearUninstallInDoubt(ref: ConnectionRef, connectionId: string, at: string): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'REMOVE uninstallInDoubt',
      ConditionExpression: 'connectionId = :cid AND uninstallInDoubt = :at',
      ExpressionAttributeValues: { ':at': at, ':cid': connectionId },
    });
  }

  async clearSecretName(ref: ConnectionRef, secretName: string): Promise<void> {
    await this.updateIf(ref, {
      UpdateExpression: 'SET secretName = :null',
      ConditionExpression: 'secretName = :name',
      ExpressionAttributeValues: { ':null': null, ':name': secretName },
    });
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
