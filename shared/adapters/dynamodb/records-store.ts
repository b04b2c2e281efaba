import { gunzipSync, gzipSync } from 'node:zlib';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { recordKeys } from '../../data/keys.js';
import type { RecordsStore, RecordWrite, StoredRecord } from '../../ports/records-store.js';
import { RESOURCES, type ResourceName, type StripeObject } from '../../records/registry.js';
import { isConditionFailure } from './document-client.js';

/** DynamoDB's item limit is 400 KB; leave room for keys and attributes. */
const MAX_DATA_BYTES = 350 * 1024;

export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
}

function toItem(record: RecordWrite, now: string): Record<string, unknown> {
  const def = RESOURCES.find((r) => r.name === record.resource);
  if (!def) throw new Error(`unknown resource ${record.resource}`);
  const data = gzipSync(JSON.stringify(record.object));
  if (data.length > MAX_DATA_BYTES) {
    throw new RecordTooLargeError(
      `${record.resource} ${record.object.id} is ${data.length} bytes compressed`,
    );
  }
  return {
    ...recordKeys.record(record.orgId, record.accountId, record.resource, record.object.id),
    orgId: record.orgId,
    accountId: record.accountId,
    resource: record.resource,
    objectId: record.object.id,
    created: typeof record.object.created === 'number' ? record.object.created : null,
    livemode: record.object.livemode === true,
    ...def.attributes(record.object),
    version: record.version,
    source: record.source,
    deleted: record.deleted === true,
    syncedAt: now,
    data,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number) => Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);

/** Synced Stripe objects in DynamoDB: queryable attributes plus the whole object, gzipped. */
export class DynamoRecordsStore implements RecordsStore {
  batchCalls = 0;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
    private readonly maxAttempts = 10,
  ) {}

  async put(record: RecordWrite): Promise<'written' | 'stale'> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(record, this.now().toISOString()),
          ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
          ExpressionAttributeValues: { ':v': record.version },
        }),
      );
      return 'written';
    } catch (error) {
      if (isConditionFailure(error)) return 'stale';
      throw error;
    }
  }

  async putMany(
    records: RecordWrite[],
  ): Promise<{ written: number; created: number; stale: number; batchCalls: number }> {
    // The newest of duplicates within the batch.
    const newest = new Map<string, RecordWrite>();
    for (const record of records) {
      const { pk, sk } = recordKeys.record(record.orgId, record.accountId, record.resource, record.object.id);
      const key = `${pk}|${sk}`;
      const existing = newest.get(key);
      if (!existing || existing.version <= record.version) newest.set(key, record);
    }
    const stored = await this.storedVersions([...newest.keys()]);
    const fresh = [...newest.entries()].filter(
      ([key, r]) => !(stored.get(key) !== undefined && (stored.get(key) as string) >= r.version),
    );
    const now = this.now().toISOString();
    let calls = 0;
    const chunks: Array<Array<Record<string, unknown>>> = [];
    for (let i = 0; i < fresh.length; i += 25)
      chunks.push(fresh.slice(i, i + 25).map(([, r]) => toItem(r, now)));
    const writeChunk = async (items: Array<Record<string, unknown>>) => {
      let pending = items.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.maxAttempts)
          throw new Error(
            `${pending.length} record(s) still unprocessed after ${attempt} BatchWriteItem calls`,
          );
        if (attempt > 0) await sleep(backoff(attempt));
        calls++;
        const result = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
      }
    };
    // A few batch calls in flight at once.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(4, chunks.length) }, async () => {
        while (next < chunks.length) await writeChunk(chunks[next++] as Array<Record<string, unknown>>);
      }),
    );
    this.batchCalls += calls;
    const created = fresh.filter(([key]) => !stored.has(key)).length;
    return { written: fresh.length, created, stale: records.length - fresh.length, batchCalls: calls };
  }

  private async storedVersions(keys: string[]): Promise<Map<string, string>> {
    const versions = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Array<Record<string, unknown>> = keys.slice(i, i + 100).map((key) => {
        const [pk, sk] = key.split('|');
        return { pk, sk };
      });
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.maxAttempts) throw new Error('BatchGetItem kept returning unprocessed keys');
        if (attempt > 0) await sleep(backoff(attempt));
        const result = await this.db.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: pending,
                ProjectionExpression: 'pk, sk, version',
                ConsistentRead: true,
              },
            },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? [])
          versions.set(`${item.pk}|${item.sk}`, item.version as string);
        pending = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Array<Record<string, unknown>>;
      }
    }
    return versions;
  }

  async putInvoiceLines(
    orgId: string,
    accountId: string,
    invoiceId: string,
    version: string,
    lines: StripeObject[],
  ): Promise<void> {
    const now = this.now().toISOString();
    for (let i = 0; i * 100 < lines.length; i++) {
      const chunk = lines.slice(i * 100, (i + 1) * 100);
      const data = gzipSync(JSON.stringify(chunk));
      if (data.length > MAX_DATA_BYTES)
        throw new RecordTooLargeError(`lines of ${invoiceId} page ${i} are ${data.length} bytes compressed`);
      const key = recordKeys.record(
        orgId,
        accountId,
        'invoices',
        `${invoiceId}#lines#${String(i).padStart(4, '0')}`,
      );
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              orgId,
              accountId,
              resource: 'invoice_lines',
              invoiceId,
              page: i,
              count: chunk.length,
              version,
              syncedAt: now,
              data,
            },
            ConditionExpression: 'attribute_not_exists(pk) OR version <= :v',
            ExpressionAttributeValues: { ':v': version },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  /**
   * The lines past the embedded page of the invoice as stored: only pages written with the
   * stored invoice's version count, so pages left by an older version (a draft that shrank,
   * an invoice a webhook brought newer without its lines) are never taken for its lines.
   */
  async invoiceLines(orgId: string, accountId: string, invoiceId: string): Promise<StripeObject[]> {
    const invoice = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.record(orgId, accountId, 'invoices', invoiceId),
        ProjectionExpression: 'version',
        ConsistentRead: true,
      }),
    );
    const version = invoice.Item?.version as string | undefined;
    if (version === undefined) return [];
    const pages: Array<{ page: number; lines: StripeObject[] }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': recordKeys.partition(orgId, accountId),
            ':prefix': `invoices#${invoiceId}#lines#`,
          },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of result.Items ?? []) {
        if (item.version !== version) continue;
        const lines = JSON.parse(gunzipSync(item.data as Uint8Array).toString('utf8')) as StripeObject[];
        pages.push({ page: item.page as number, lines });
      }
      start = result.LastEvaluatedKey;
    } while (start);
    return pages.sort((x, y) => x.page - y.page).flatMap((p) => p.lines);
  }

  async get(
    orgId: string,
    accountId: string,
    resource: ResourceName,
    objectId: string,
  ): Promise<StoredRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: recordKeys.record(orgId, accountId, resource, objectId),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      orgId,
      accountId,
      resource,
      objectId,
      version: Item.version as string,
      source: Item.source as 'sync' | 'webhook',
      deleted: Item.deleted === true,
      object: JSON.parse(gunzipSync(Item.data as Uint8Array).toString('utf8')) as StripeObject,
    };
  }

  async versions(orgId: string, accountId: string, resource: ResourceName): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': recordKeys.partition(orgId, accountId),
          ':prefix': `${resource}#`,
        },
        ProjectionExpression: 'objectId, version',
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        if (item.objectId) out.set(item.objectId as string, item.version as string);
    return out;
  }
}
