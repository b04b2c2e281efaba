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
  const keyOf = (key: Record<string, Attribute> | undefined) => `${key?.pk?.S}|${key?.sk?.S}`;
  const put = (item: Record<string, Attribute>): number => {
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
  const remove = (key: Record<string, Attribute> | undefined): number => {
    const old = entries.get(keyOf(key));
    entries.delete(keyOf(key));
    return old ? units(old.bytes) : 0;
  };
  return (command: string, input: unknown): number => {
    const i = input as {
      Item?: Record<string, Attribute>;
      Key?: Record<string, Attribute>;
      UpdateExpression?: string;
      RequestItems?: Record<
        string,
        Array<{
          PutRequest?: { Item: Record<string, Attribute> };
          DeleteRequest?: { Key: Record<string, Attribute> };
        }>
      >;
    };
    if (command === 'PutItemCommand' && i.Item) return put(i.Item);
    if (command === 'DeleteItemCommand') return remove(i.Key);
    if (command === 'BatchWriteItemCommand')
      return Object.values(i.RequestItems ?? {})
        .flat()
        .reduce((n, r) => n + (r.PutRequest ? put(r.PutRequest.Item) : remove(r.DeleteRequest?.Key)), 0);
    if (command === 'UpdateItemCommand') {
      const old = entries.get(keyOf(i.Key));
      const moves = /\bseq\s*=/.test(i.UpdateExpression ?? '');
      if (old) return moves ? 2 * units(old.bytes) : units(old.bytes);
      if (moves) {
        entries.set(keyOf(i.Key), { seq: `moved-${entries.size}`, bytes: 1024 });
        return 1;
      }
    }
    return 0;
  };
}
