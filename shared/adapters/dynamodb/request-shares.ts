import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { RequestShares } from '../../ports/request-shares.js';
import { conditionalWrite } from './document-client.js';

/** How long a second's counter is kept (DynamoDB's TTL deletes it within a few days after). */
const KEEP_SECONDS = 3600;

/**
 * Request shares on DynamoDB: one counter item per account, mode and second, taken with a
 * conditional `ADD` (so concurrent takers never pass the limit together). A take that does not
 * fit asks for half as many, down to one: a second nearly spent still gives what is left.
 */
export class DynamoRequestShares implements RequestShares {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async take(accountId: string, mode: string, second: number, want: number, limit: number): Promise<number> {
    for (let n = Math.min(Math.floor(want), limit); n >= 1; n = Math.floor(n / 2)) {
      const taken = await conditionalWrite(() =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keys.requestShare(accountId, mode, second),
            UpdateExpression: 'ADD sent :n SET #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(sent) OR sent <= :most',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':n': n, ':most': limit - n, ':ttl': second + KEEP_SECONDS },
          }),
        ),
      );
      if (taken) return n;
    }
    return 0;
  }
}
