import type { ResourceName, StripeObject } from '../records/registry.js';

export interface RecordWrite {
  orgId: string;
  accountId: string;
  resource: ResourceName;
  object: StripeObject;
  /** From `recordVersion`: an older version never overwrites a newer one; an equal one is a no-op. */
  version: string;
  source: 'sync' | 'webhook';
  /** The object was deleted in Stripe (a draft invoice, say). */
  deleted?: boolean;
}

export interface StoredRecord {
  orgId: string;
  accountId: string;
  resource: ResourceName;
  objectId: string;
  version: string;
  source: 'sync' | 'webhook';
  deleted: boolean;
  object: StripeObject;
}

/** Synced Stripe objects, one item per object, under the version guard. */
export interface RecordsStore {
  /** One conditional write: 'stale' when an equal or newer version is stored. */
  put(record: RecordWrite): Promise<'written' | 'stale'>;
  /**
   * Many at once (BatchWriteItem, 25 a call, unprocessed items retried). Batch
   * writes cannot be conditional: stored versions are read first and older
   * writes skipped; a webhook landing between the read and the write is
   * re-applied by the next incremental sync from /v1/events.
   */
  putMany(
    records: RecordWrite[],
  ): Promise<{ written: number; created: number; stale: number; batchCalls: number }>;
  /**
   * Invoice lines past the page Stripe embeds, in their own items (100 lines
   * each), so an invoice item stays under DynamoDB's 400 KB.
   */
  putInvoiceLines(
    orgId: string,
    accountId: string,
    invoiceId: string,
    version: string,
    lines: StripeObject[],
  ): Promise<void>;
  invoiceLines(orgId: string, accountId: string, invoiceId: string): Promise<StripeObject[]>;
  get(
    orgId: string,
    accountId: string,
    resource: ResourceName,
    objectId: string,
  ): Promise<StoredRecord | undefined>;
  /** Ids and versions of one resource (tests, reconciliation). */
  versions(orgId: string, accountId: string, resource: ResourceName): Promise<Map<string, string>>;
}
