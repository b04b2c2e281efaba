/**
 * The DynamoDB tables, defined once. The CDK stack and the local stack (dynalite,
 * moto) both build their tables from these definitions, so keys, indexes and the
 * TTL attribute cannot drift between AWS and a laptop.
 */
export interface KeyDef {
  name: string;
  type: 'S' | 'N';
}

export interface IndexDef {
  indexName: string;
  partitionKey: KeyDef;
  sortKey?: KeyDef;
  /** Projected attributes beyond the keys; `ALL` when omitted. */
  nonKeyAttributes?: string[];
}

export interface TableDef {
  /** Logical id in CDK and the suffix of the local table name. */
  id: string;
  partitionKey: KeyDef;
  sortKey: KeyDef;
  ttlAttribute?: string;
  globalSecondaryIndexes: IndexDef[];
}

/**
 * Service state: connections, OAuth states, the account index, sync checkpoints
 * and the webhook ledger. `gsi1` is sparse: only connected connections carry
 * `gsi1pk`, so the nightly dispatcher pages through exactly those. `gsi2` is
 * the work that falls due (a sync queued or running, an install waiting for
 * its confirmation, a secret noted for deletion): items carry `gsi2pk` (the
 * kind) and `gsi2sk` (when it is due) only while there is such work, and the
 * sweep queries what is overdue. Keys only (and the org): a status update
 * writes nothing to it.
 */
export const serviceTable: TableDef = {
  id: 'ServiceTable',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  ttlAttribute: 'ttl',
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
    },
    {
      indexName: 'gsi2',
      partitionKey: { name: 'gsi2pk', type: 'S' },
      sortKey: { name: 'gsi2sk', type: 'S' },
      nonKeyAttributes: ['orgId'],
    },
  ],
};

/**
 * Synced Stripe objects, one item per object: `ORG#…#MODE#…#ACCT#…` / `<type>#<id>`. Records
 * never expire; a full re-sync's `seen` items (`…#SEEN#<pass>`) carry `ttl` and go a week on.
 * `feed` is the change feed: every record carries its partition (`feedPk`) and its position in
 * the partition's change sequence (`seq`, given anew by each write), so the changes after a
 * cursor are one Query. Line pages, counts and `seen` items carry neither: they are not in it.
 */
export const recordsTable: TableDef = {
  id: 'RecordsTable',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  ttlAttribute: 'ttl',
  globalSecondaryIndexes: [
    {
      indexName: 'feed',
      partitionKey: { name: 'feedPk', type: 'S' },
      sortKey: { name: 'seq', type: 'N' },
    },
  ],
};

export const tables = [serviceTable, recordsTable] as const;

/** The CreateTable input for dynalite and moto (on-demand, like the CDK tables). */
export function createTableInput(def: TableDef, tableName: string) {
  const attributes = new Map<string, KeyDef>();
  for (const key of [def.partitionKey, def.sortKey]) attributes.set(key.name, key);
  for (const index of def.globalSecondaryIndexes) {
    attributes.set(index.partitionKey.name, index.partitionKey);
    if (index.sortKey) attributes.set(index.sortKey.name, index.sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [...attributes.values()].map((key) => ({
      AttributeName: key.name,
      AttributeType: key.type,
    })),
    KeySchema: [
      { AttributeName: def.partitionKey.name, KeyType: 'HASH' as const },
      { AttributeName: def.sortKey.name, KeyType: 'RANGE' as const },
    ],
    ...(def.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
              ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
            ],
            Projection: index.nonKeyAttributes
              ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: index.nonKeyAttributes }
              : { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  };
}
