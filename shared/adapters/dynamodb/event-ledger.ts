import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { EventLedger } from '../../ports/event-ledger.js';
import { conditionalWrite, isConditionFailure } from './document-client.js';

const RETENTION_SECONDS = 30 * 86_400;

/**
 * The webhook ledger as `EVENT#<id>` items in the service table. (Powertools'
 * idempotency utility would put every key under one static partition in a
 * single-table design; the ledger is small enough to own.) A claim is a lease:
 * a worker that dies mid-event leaves it to be taken over after `leaseMs`.
 */
export class DynamoEventLedger implements EventLedger {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly leaseMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(eventId: string): Promise<'new' | 'retry' | 'done' | 'busy'> {
    const now = this.now();
    try {
      const { Attributes } = await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.webhookEvent(eventId),
            type: 'webhook_event',
            status: 'processing',
            leaseUntil: now + this.leaseMs,
            ttl: Math.floor(now / 1000) + RETENTION_SECONDS,
          },
          ConditionExpression:
            'attribute_not_exists(pk) OR #status = :released OR (#status = :processing AND leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing', ':released': 'released', ':now': now },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ? 'retry' : 'new';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.webhookEvent(eventId), ConsistentRead: true }),
    );
    return Item?.status === 'done' ? 'done' : 'busy';
  }

  async complete(eventId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.webhookEvent(eventId),
        UpdateExpression: 'SET #status = :done, completedAt = :at REMOVE leaseUntil',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':done': 'done', ':at': new Date(this.now()).toISOString() },
      }),
    );
  }

  /** Kept as `released` (not deleted), so that the retry knows an attempt came before it. */
  async release(eventId: string): Promise<void> {
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.webhookEvent(eventId),
          UpdateExpression: 'SET #status = :released REMOVE leaseUntil',
          ConditionExpression: '#status = :processing',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing', ':released': 'released' },
        }),
      ),
    );
  }
}
