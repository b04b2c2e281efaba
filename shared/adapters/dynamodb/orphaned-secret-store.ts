import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dueKeys, keys } from '../../data/keys.js';
import type { OrphanedSecretStore } from '../../ports/orphaned-secrets.js';
import { queryDue } from './due-index.js';

/** Item mapping for orphan notes: the key and the due-work index. */
export const OrphanedSecretItem = {
  toItem(orgId: string, secretName: string, dueAt: string): Record<string, unknown> {
    return {
      ...keys.orphanedSecret(orgId, secretName),
      type: 'orphaned_secret',
      orgId,
      secretName,
      ...dueKeys.orphan(orgId, dueAt),
    };
  },
  fromItem(item: Record<string, unknown>): { secretName: string; dueAt: string } {
    return {
      secretName: item.secretName as string,
      // Notes from before they had a due time are due.
      dueAt: typeof item.gsi2sk === 'string' ? (item.gsi2sk.split('#')[0] as string) : '',
    };
  },
};

/** Orphan notes on DynamoDB: `ORG#<org>` / `ORPHAN#<secret>`, due in `gsi2`. */
export class DynamoOrphanedSecretStore implements OrphanedSecretStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async noteOrphanedSecret(
    orgId: string,
    secretName: string,
    dueAt = new Date().toISOString(),
  ): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: OrphanedSecretItem.toItem(orgId, secretName, dueAt),
      }),
    );
  }

  async *dueOrphans(now: string): AsyncIterable<{ orgId: string }> {
    for (const key of queryDue(this.db, this.tableName, 'orphan', now))
      for await (const item of key) yield item;
  }

  async orphanedSecrets(orgId: string): Promise<Array<{ secretName: string; dueAt: string }>> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.connections(orgId).pk, ':prefix': 'ORPHAN#' },
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map((item) => OrphanedSecretItem.fromItem(item));
  }

  async forgetOrphanedSecret(orgId: string, secretName: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.orphanedSecret(orgId, secretName) }),
    );
  }
}
