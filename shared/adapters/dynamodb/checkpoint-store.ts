import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
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
