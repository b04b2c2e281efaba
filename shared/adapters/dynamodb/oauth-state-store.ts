import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { keys } from '../../data/keys.js';
import type { OAuthState } from '../../domain/connection.js';
import { lazy } from '../../lazy.js';
import type { OAuthStateStore } from '../../ports/oauth-states.js';
import { isConditionFailure } from './document-client.js';

/** Built on its first parse (init builds only what every request needs). */
const stateItem = lazy(() =>
  z.object({
    stateHash: z.string(),
    orgId: z.string(),
    userId: z.string(),
    mode: z.enum(['test', 'live']),
    returnTo: z.string(),
    expiresAt: z.string(),
  }),
);

/** Item mapping for OAuth states: the key, the TTL, and parsing on the way out. */
export const OAuthStateItem = {
  toItem(state: OAuthState): Record<string, unknown> {
    return {
      ...keys.oauthState(state.stateHash),
      type: 'oauth_state',
      ...state,
      // DynamoDB's TTL only tidies up (and may lag by days): expiry is checked in code.
      ttl: Math.ceil(Date.parse(state.expiresAt) / 1000) + 3600,
    };
  },
  fromItem(item: Record<string, unknown>): OAuthState {
    return stateItem().parse(item);
  },
};

/** OAuth states on DynamoDB: `STATE#<sha256>` / `STATE`. */
export class DynamoOAuthStateStore implements OAuthStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putState(state: OAuthState): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: OAuthStateItem.toItem(state),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async consumeState(stateHash: string): Promise<OAuthState | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.oauthState(stateHash),
          ConditionExpression: 'attribute_exists(pk)',
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ? OAuthStateItem.fromItem(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}
