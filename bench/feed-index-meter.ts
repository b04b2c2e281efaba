import { marshall } from '@aws-sdk/util-dynamodb';

type Attribute = {
  S?: string;
  N?: string;
  B?: Uint8Array;
  BOOL?: boolean;
  NULL?: boolean;
  L?: Attribute[];
  M?: Record<string, Attribute>;
};

/** An attribute value's size as DynamoDB counts it for capacity (numbers: about a byte per two digits). */
function attributeBytes(value: Attribute): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.replace(/^-|\.|e.*$/gi, '').length / 2) + 1;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.L) return 3 + value.L.reduce((n, v) => n + 1 + attributeBytes(v), 0);
  if (value.M) return 3 + itemBytes(value.M) + Object.keys(value.M).length;
  return 1;
}

const itemBytes = (item: Record<string, Attribute>) =>
  Object.entries(item).reduce((n, [name, v]) => n + Buffer.byteLength(name) + attributeBytes(v), 0);

/**
 * The write units the records table's feed index costs, which dynalite does not report. DynamoDB
 * bills an index as it bills a table: a write that puts an item into the index costs its entry's
 * units (the whole item: the index projects everything); one that changes an item's place in it
 * (its `seq`) costs a delete of the old entry and a put of the new; one that rewrites an item at
 * the same place, or removes it, costs one entry. This meter keeps each entry's place and size as
 * it saw them written (a bench's tables start empty); an update by expression that sets `seq`
 * (a record marked deleted) is a move of an entry it knows, else a new entry.
 */
export function feedIndexMeter() {
  const entries = new Map<string, { seq: string; bytes: number }>();
  const units = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
  const keyOf = (key: Item | undefined) => `${key?.pk?.S}|${key?.sk?.S}`;
  const put = (item: Item): number => {
    const key = keyOf(item);
    const old = entries.get(key);
    const seq = item.seq?.N;
    if (item.feedPk?.S === undefined || seq === undefined) {
      entries.delete(key);
      return old ? units(old.bytes) : 0;
    }
    const bytes = itemBytes(item);
    entries.set(key, { seq, bytes });
    return (old && old.seq !== seq ? units(old.bytes) : 0) + units(bytes);
  };
  const remove = (key: Item | undefined): number => {
    const old = entries.get(keyOf(key));
    entries.delete(keyOf(key));
    return old ? units(old.bytes) : 0;
  };
  /**
   * A write DynamoDB made: its command, its input (the DocumentClient's commands still hold plain
   * values where a client's middleware sees them, the records store's batches attribute values)
   * and the items a batch left unprocessed, which were not written.
   */
  return (command: string, input: unknown, unprocessed?: unknown): number => {
    const i = input as {
      Item?: Plain;
      Key?: Plain;
      UpdateExpression?: string;
      RequestItems?: Record<string, BatchRequests>;
    };
    if (command === 'PutItemCommand' && i.Item) return put(values(i.Item));
    if (command === 'DeleteItemCommand') return remove(i.Key && values(i.Key));
    if (command === 'BatchWriteItemCommand') {
      const left = new Set(
        Object.values((unprocessed ?? {}) as Record<string, BatchRequests>)
          .flat()
          .map((r) => keyOf(values((r.PutRequest?.Item ?? r.DeleteRequest?.Key) as Plain))),
      );
      return Object.values(i.RequestItems ?? {})
        .flat()
        .reduce((n, r) => {
          const item = values((r.PutRequest?.Item ?? r.DeleteRequest?.Key) as Plain);
          if (left.has(keyOf(item))) return n;
          return n + (r.PutRequest ? put(item) : remove(item));
        }, 0);
    }
    if (command === 'UpdateItemCommand' && i.Key) {
      const key = keyOf(values(i.Key));
      const old = entries.get(key);
      const moves = /\bseq\s*=/.test(i.UpdateExpression ?? '');
      if (old) return moves ? 2 * units(old.bytes) : units(old.bytes);
      if (moves) {
        // An entry this meter did not see written: its size is not known, a KB is assumed.
        entries.set(key, { seq: `moved-${entries.size}`, bytes: 1024 });
        return 1;
      }
    }
    return 0;
  };
}

type Item = Record<string, Attribute>;
type Plain = Record<string, unknown>;
type BatchRequests = Array<{ PutRequest?: { Item: Plain }; DeleteRequest?: { Key: Plain } }>;

/** An item as attribute values: as it is, or marshalled as the DocumentClient marshals it. */
const values = (item: Plain): Item =>
  typeof item.pk === 'string'
    ? (marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: false }) as Item)
    : (item as Item);
