import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { dueKeys, keys } from '../../data/keys.js';
import { lazy } from '../../lazy.js';
import type { PendingInstall, PendingInstallStore } from '../../ports/pending-installs.js';
import { conditionalWrite, isConditionFailure } from './document-client.js';
import { queryDue } from './due-index.js';

/** Built on its first parse (init builds only what every request needs). */
const installItem = lazy(() =>
  z.object({
    installHash: z.string(),
    orgId: z.string(),
    userId: z.string(),
    mode: z.enum(['test', 'live']),
    returnTo: z.string(),
    connectionId: z.string(),
    secretName: z.string(),
    accountId: z.string(),
    livemode: z.boolean(),
    scope: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    claimedAt: z.optional(z.nullable(z.string())),
  }),
);

/** Item mapping for pending installs: keys, the due-work index (due when it expires), DynamoDB's TTL. */
export const PendingInstallItem = {
  toItem(install: PendingInstall): Record<string, unknown> {
    return {
      ...keys.pendingInstall(install.installHash),
      type: 'pending_install',
      ...install,
      ...dueKeys.install(install.installHash, install.expiresAt),
      // Only tidies up, long after the sweep: expiry is checked in code.
      ttl: Math.ceil(Date.parse(install.expiresAt) / 1000) + 7 * 86_400,
    };
  },
  fromItem(item: Record<string, unknown>): PendingInstall {
    return installItem().parse(item);
  },
};

/** A claim older than this is a confirmation that crashed: another may take it. */
const CLAIM_MS = 60_000;

export class DynamoPendingInstallStore implements PendingInstallStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async put(install: PendingInstall): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: PendingInstallItem.toItem(install),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(installHash: string): Promise<PendingInstall | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.pendingInstall(installHash),
        ConsistentRead: true,
      }),
    );
    return Item ? PendingInstallItem.fromItem(Item) : undefined;
  }

  async claim(installHash: string, now: string): Promise<PendingInstall | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.pendingInstall(installHash),
          UpdateExpression: 'SET claimedAt = :now',
          ConditionExpression:
            'attribute_exists(pk) AND expiresAt > :now AND (attribute_not_exists(claimedAt) OR claimedAt = :null OR claimedAt < :stale)',
          ExpressionAttributeValues: {
            ':now': now,
            ':null': null,
            ':stale': new Date(Date.parse(now) - CLAIM_MS).toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? PendingInstallItem.fromItem(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async release(installHash: string, claimedAt: string): Promise<void> {
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.pendingInstall(installHash),
          UpdateExpression: 'SET claimedAt = :null',
          ConditionExpression: 'claimedAt = :claimed',
          ExpressionAttributeValues: { ':null': null, ':claimed': claimedAt },
        }),
      ),
    );
  }

  async delete(installHash: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.pendingInstall(installHash) }),
    );
  }

  async *expired(now: string): AsyncIterable<PendingInstall> {
    for (const due of queryDue(this.db, this.tableName, 'install', now)) {
      for await (const { pk } of due) {
        const install = await this.get(pk.replace(/^INSTALL#/, ''));
        if (install && install.expiresAt <= now) yield install;
      }
    }
  }
}
