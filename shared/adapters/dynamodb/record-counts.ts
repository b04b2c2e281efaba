import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { recordKeys } from '../../data/keys.js';
import type { RecordCounts, RecordScope, RecordsStore } from '../../ports/records-store.js';
import { RECORD_RESOURCES } from '../../records/names.js';

/** The attribute of the counts item that holds a resource's count. */
export const countName = (resource: string) => `n_${resource}`;

/**
 * Reads a records partition's counts item, nothing else of the records. The status function
 * needs only this: it then loads none of the records store's code (nor the registry's), which
 * is init time a caller waits for. DynamoRecordsStore reads counts through it.
 */
export class DynamoRecordCounts implements Pick<RecordsStore, 'counts' | 'countsState'> {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async counts(scope: RecordScope): Promise<RecordCounts | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const counts: RecordCounts = {};
    for (const name of RECORD_RESOURCES) counts[name] = Number(Item[countName(name)] ?? 0);
    return counts;
  }

  async countsState(scope: RecordScope): Promise<{ countedFor?: string; doubt?: string } | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.counts(scope),
        ProjectionExpression: 'countedFor, doubt',
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      ...(typeof Item.countedFor === 'string' ? { countedFor: Item.countedFor } : {}),
      ...(typeof Item.doubt === 'string' ? { doubt: Item.doubt } : {}),
    };
  }
}
