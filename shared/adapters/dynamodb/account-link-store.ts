import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { keys } from '../../data/keys.js';
import { type AccountLink, LEGACY_SLOT } from '../../domain/connection.js';
import { lazy } from '../../lazy.js';
import type { AccountLinkStore } from '../../ports/account-links.js';
import { conditionalWrite } from './document-client.js';

/** Built on its first parse (init builds only what every request needs). */
const linkItem = lazy(() =>
  z.object({
    accountId: z.string(),
    orgId: z.string(),
    // Links written before an org could have several connections name none: the legacy one.
    slot: z._default(z.string(), LEGACY_SLOT),
    connectionId: z.string(),
    livemode: z.boolean(),
  }),
);

/** Item mapping for account links: one per connection, under its account. */
export const AccountLinkItem = {
  toItem(link: AccountLink): Record<string, unknown> {
    return {
      ...keys.accountLink(link.accountId, link.orgId, link.connectionId),
      type: 'account_link',
      ...link,
    };
  },
  fromItem(item: Record<string, unknown>): AccountLink {
    return linkItem().parse(item);
  },
};

/** Account links on DynamoDB: `ACCOUNT#<acct>` / `ORG#<org>#CONN#<connection>`. */
export class DynamoAccountLinkStore implements AccountLinkStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putAccountLink(link: AccountLink): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: AccountLinkItem.toItem(link) }));
  }

  async deleteAccountLink(accountId: string, orgId: string, connectionId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.accountLink(accountId, orgId, connectionId) }),
    );
    // A link written before links were per connection: only if it is still this connection's.
    await conditionalWrite(() =>
      this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.legacyAccountLink(accountId, orgId),
          ConditionExpression: 'connectionId = :cid',
          ExpressionAttributeValues: { ':cid': connectionId },
        }),
      ),
    );
  }

  async accountLinks(accountId: string): Promise<AccountLink[]> {
    const links: AccountLink[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.accountLinks(accountId).pk },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? []) links.push(AccountLinkItem.fromItem(item));
    return links;
  }
}
