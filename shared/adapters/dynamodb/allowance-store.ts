import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { AllowanceStore } from '../../ports/allowances.js';
import { conditionalWrite } from './document-client.js';

/** Per-org allowances on DynamoDB: one counter item per window, `ORG#<org>` / `COUNTER#<name>#<window>`. */
export class DynamoAllowanceStore implements AllowanceStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

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
}
