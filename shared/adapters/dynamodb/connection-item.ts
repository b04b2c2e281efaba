import {
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import '../../zod-locale.js';
import { connectedIndexKeys, dueKeys, keys } from '../../data/keys.js';
import {
  type Connection,
  type ConnectionRef,
  LEGACY_SLOT,
  refOf,
  type SyncStatus,
} from '../../domain/connection.js';
import { conditionalWrite } from './document-client.js';

/*
 * A connection is one item (`keys.connection`). Its aggregates' adapters (connections,
 * leases, sync marks, requests) each write their own attributes of it, every write a
 * single conditional update.
 */

const syncSchema = z.object({
  state: z.enum(['idle', 'queued', 'running', 'failed']),
  lastSuccessAt: z.nullable(z.string()),
  lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
  counts: z.record(z.string(), z.number()),
  progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
  queuedAt: z.nullable(z.string()),
  durationMs: z.optional(z.nullable(z.number())),
  resourceErrors: z.optional(
    z.nullable(z.record(z.string(), z.object({ code: z.string(), message: z.string(), at: z.string() }))),
  ),
});

const connectionItem = z.object({
  orgId: z.string(),
  // Items written before an org could have several connections have no slot: the legacy one.
  slot: z._default(z.string(), LEGACY_SLOT),
  connectionId: z.string(),
  status: z.enum(['connected', 'needs_reauth', 'revoked', 'disconnected']),
  statusReason: z._default(z.nullable(z.string()), null),
  accountId: z.string(),
  accountName: z.optional(z.nullable(z.string())),
  livemode: z.boolean(),
  scope: z.string(),
  secretName: z._default(z.nullable(z.string()), null),
  connectedAt: z.string(),
  connectedBy: z.string(),
  updatedAt: z.string(),
  version: z.number(),
  sync: syncSchema,
  syncLeaseUntil: z.optional(z.nullable(z.number())),
  syncLeaseEpoch: z.optional(z.number()),
  syncAgain: z.optional(z.boolean()),
  countsInDoubt: z.optional(z.nullable(z.string())),
  erasure: z.optional(
    z.nullable(
      z.object({
        state: z.enum(['queued', 'running', 'done']),
        requestedAt: z.string(),
        finishedAt: z.nullable(z.string()),
        items: z.number(),
        after: z.optional(z.nullable(z.string())),
        leaseUntil: z.optional(z.nullable(z.number())),
        cutoff: z.optional(z.nullable(z.string())),
        owner: z.optional(z.nullable(z.string())),
      }),
    ),
  ),
  fullSync: z.optional(
    z.nullable(
      z.object({
        id: z.string(),
        resources: z.array(z.string()),
        state: z.enum(['pending', 'running', 'done']),
        requestedAt: z.string(),
        startedAt: z.nullable(z.string()),
        finishedAt: z.nullable(z.string()),
        swept: z.array(z.string()),
        sweepAfter: z.optional(z.nullable(z.string())),
        added: z.number(),
        updated: z.number(),
        deleted: z.number(),
      }),
    ),
  ),
});

/** `sync.<field> = :v…` for each defined field of a sync-status patch; fills in the names and values. */
export function syncSet(
  patch: Partial<SyncStatus>,
  names: Record<string, string>,
  values: Record<string, unknown>,
): string[] {
  return Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([key, value], i) => {
      names[`#f${i}`] = key;
      values[`:v${i}`] = value;
      return `sync.#f${i} = :v${i}`;
    });
}

/** `<map>.<field> = :v…` for each defined field of a patch of a map attribute. */
export function fieldSet(
  map: string,
  patch: Record<string, unknown>,
): { sets: string[]; names: Record<string, string>; values: Record<string, unknown> } {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([key, value], i) => {
      names[`#p${i}`] = key;
      values[`:p${i}`] = value;
      return `${map}.#p${i} = :p${i}`;
    });
  return { sets, names, values };
}

/** The due-work index attributes of a connection's sync, as expression values. */
export function dueValues(orgId: string, dueAt: string): { ':duePk': string; ':dueSk': string } {
  const due = dueKeys.sync(orgId, dueAt);
  return { ':duePk': due.gsi2pk, ':dueSk': due.gsi2sk };
}

/** Item mapping for connections: keys, the sparse index, and parsing on the way out. */
export const ConnectionItem = {
  toItem(connection: Connection): Record<string, unknown> {
    return {
      ...keys.connection(refOf(connection)),
      type: 'connection',
      ...connection,
      ...(connection.status === 'connected' ? connectedIndexKeys(connection.orgId) : {}),
    };
  },
  fromItem(item: Record<string, unknown>): Connection {
    return connectionItem.parse(item);
  },
};

/** What each adapter of the connection item shares: its table, and a conditional update of one connection. */
export abstract class ConnectionItemAdapter {
  constructor(
    protected readonly db: DynamoDBDocumentClient,
    protected readonly tableName: string,
  ) {}

  /** An update of the connection's item on its condition: false when the condition did not hold. */
  protected updateIf(
    ref: ConnectionRef,
    input: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
  ): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(new UpdateCommand({ TableName: this.tableName, Key: keys.connection(ref), ...input })),
    );
  }

  /** The connection as stored now (a strongly consistent read). */
  protected async readConnection(ref: ConnectionRef): Promise<Connection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(ref), ConsistentRead: true }),
    );
    return Item ? ConnectionItem.fromItem(Item) : undefined;
  }
}
