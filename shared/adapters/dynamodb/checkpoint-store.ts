import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import { type ConnectionRef, refOf } from '../../domain/connection.js';
import type { ResourceName } from '../../records/registry.js';
import type { Checkpoint, CheckpointStore } from '../../sync/checkpoint.js';

/** Sync checkpoints as `ORG#<org>` / `CURSOR#<slot>#<resource>` items (`CURSOR#<resource>` for the legacy connection). */
export class DynamoCheckpointStore implements CheckpointStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(ref: ConnectionRef, resource: ResourceName): Promise<Checkpoint | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.cursor(ref, resource), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, type: _type, ...checkpoint } = Item;
    return checkpoint as Checkpoint;
  }

  async all(ref: ConnectionRef): Promise<Map<ResourceName, Checkpoint>> {
    const { pk, sk } = keys.cursor(ref, '');
    const found = new Map<ResourceName, Checkpoint>();
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': sk },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const { pk: _pk, sk: itemSk, type: _type, ...checkpoint } of page.Items ?? []) {
        // The legacy connection's prefix (`CURSOR#`) also holds every slot's: only its own count.
        if (String(itemSk) !== keys.cursor(ref, String(checkpoint.resource)).sk) continue;
        found.set(checkpoint.resource as ResourceName, checkpoint as Checkpoint);
      }
    return found;
  }

  async put(checkpoint: Checkpoint): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.cursor(refOf(checkpoint), checkpoint.resource),
          type: 'sync_checkpoint',
          ...checkpoint,
        },
      }),
    );
  }

  async reset(ref: ConnectionRef, resource: ResourceName): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: keys.cursor(ref, resource) }));
  }
}
