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
import { lazy } from '../../lazy.js';
import { conditionalWrite } from './document-client.js';

/*
 * A connection is one item (`keys.connection`). Its aggregates' adapters (connections,
 * leases, sync marks, requests) each write their own attributes of it, every write a
 * single conditional update.
 */

/**
 * The item's schema, built on its first parse, once: connect-start reads no connection, and
 * each schema zod builds costs init time. zod schemas are immutable, so one instance of each
 * shape serves every field of it.
 */
const connectionItem = lazy(() => {
  const text = z.string();
  const count = z.number();
  const maybeText = z.nullable(text);
  const texts = z.array(text);
  const optionalMaybe = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));
  const issue = z.object({ code: text, message: text, at: text });

  const syncSchema = z.object({
    state: z.enum(['idle', 'queued', 'running', 'failed']),
    lastSuccessAt: maybeText,
    lastError: z.nullable(issue),
    counts: z.record(text, count),
    progress: z.nullable(z.object({ resource: text, records: count })),
    queuedAt: maybeText,
    durationMs: optionalMaybe(count),
    resourceErrors: optionalMaybe(z.record(text, issue)),
  });

  return z.object({
    orgId: text,
    // Items written before an org could have several connections have no slot: the legacy one.
    slot: z._default(text, LEGACY_SLOT),
    connectionId: text,
    status: z.enum(['connected', 'needs_reauth', 'revoked', 'disconnected']),
    statusReason: z._default(maybeText, null),
    accountId: text,
    accountName: z.optional(maybeText),
    livemode: z.boolean(),
    scope: text,
    secretName: z._default(maybeText, null),
    connectedAt: text,
    authorizedAt: z.optional(text),
    uninstallInDoubt: z.optional(text),
    connectedBy: text,
    updatedAt: text,
    version: count,
    sync: syncSchema,
    syncLeaseUntil: optionalMaybe(count),
    syncLeaseEpoch: z.optional(count),
    syncAgain: z.optional(z.boolean()),
    countsInDoubt: z.optional(maybeText),
    erasure: optionalMaybe(
      z.object({
        state: z.enum(['queued', 'running', 'done']),
        requestedAt: text,
        finishedAt: maybeText,
        items: count,
        after: z.optional(maybeText),
        leaseUntil: optionalMaybe(count),
        cutoff: z.optional(maybeText),
        owner: z.optional(maybeText),
      }),
    ),
    fullSync: optionalMaybe(
      z.object({
        id: text,
        resources: texts,
        state: z.enum(['pending', 'running', 'done']),
        requestedAt: text,
        startedAt: maybeText,
        finishedAt: maybeText,
        swept: texts,
        sweepAfter: z.optional(maybeText),
        added: count,
        updated: count,
        deleted: count,
      }),
    ),
  });
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
    return connectionItem().parse(item);
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
