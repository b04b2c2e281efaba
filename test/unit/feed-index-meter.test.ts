import { feedIndexMeter } from '../../bench/feed-index-meter.js';

const record = (sk: string, seq: number | undefined, bytes = 100) => ({
  pk: { S: 'o#test#acct' },
  sk: { S: sk },
  ...(seq === undefined ? {} : { feedPk: { S: 'o#test#acct' }, seq: { N: String(seq) } }),
  data: { B: new Uint8Array(bytes) },
});
const batch = (...items: Array<ReturnType<typeof record>>) => ({
  RequestItems: { records: items.map((Item) => ({ PutRequest: { Item } })) },
});

describe('the feed index meter (the write units dynalite leaves out)', () => {
  it('bills an entry put into the index, twice one moved in it, once one rewritten in place or removed', () => {
    const meter = feedIndexMeter();
    // New: one entry each; a line page or a count (no feed keys) is not in the index.
    expect(meter('BatchWriteItemCommand', batch(record('charges#a', 1), record('charges#b', 2)))).toBe(2);
    expect(meter('PutItemCommand', { Item: record('_counts', undefined) })).toBe(0);
    // Rewritten at its place (an unchanged read): one; moved to a new place: the old entry's delete and the new's put.
    expect(meter('PutItemCommand', { Item: record('charges#a', 1) })).toBe(1);
    expect(meter('PutItemCommand', { Item: record('charges#a', 3) })).toBe(2);
    // Over a KB: a unit per KB begun.
    expect(meter('PutItemCommand', { Item: record('charges#c', 4, 2500) })).toBe(3);
    // Marked deleted by expression: a move of the entry it had.
    const key = { pk: { S: 'o#test#acct' }, sk: { S: 'charges#b' } };
    expect(meter('UpdateItemCommand', { Key: key, UpdateExpression: 'SET deleted = :t, seq = :seq' })).toBe(
      2,
    );
    // Removed: its entry's delete; then nothing is left of it.
    expect(meter('DeleteItemCommand', { Key: key })).toBe(1);
    expect(meter('DeleteItemCommand', { Key: key })).toBe(0);
    // An update of an item outside the index (the feed item, a checkpoint) costs the index nothing.
    expect(
      meter('UpdateItemCommand', {
        Key: { pk: { S: 'x' }, sk: { S: '_feed' } },
        UpdateExpression: 'SET #n = :n',
      }),
    ).toBe(0);
  });

  it('reads the DocumentClient’s plain values as it reads attribute values', () => {
    const meter = feedIndexMeter();
    const plain = (sk: string, seq?: number) => ({
      pk: 'o#test#acct',
      sk,
      ...(seq === undefined ? {} : { feedPk: 'o#test#acct', seq }),
      data: Buffer.alloc(100),
      gone: undefined,
    });
    // A webhook's put of a record: an entry; the same record marked deleted: a move.
    expect(meter('PutItemCommand', { Item: plain('charges#a', 1) })).toBe(1);
    const key = { pk: 'o#test#acct', sk: 'charges#a' };
    expect(meter('UpdateItemCommand', { Key: key, UpdateExpression: 'SET deleted = :t, seq = :seq' })).toBe(
      2,
    );
    // Other keys are other items: a count's or the feed item's update costs the index nothing.
    const other = { pk: 'o#test#acct', sk: '_feed' };
    expect(meter('UpdateItemCommand', { Key: other, UpdateExpression: 'SET #n = :n' })).toBe(0);
    expect(meter('DeleteItemCommand', { Key: other })).toBe(0);
    expect(
      meter('BatchWriteItemCommand', { RequestItems: { t: [{ PutRequest: { Item: plain('x#1') } }] } }),
    ).toBe(0);
    expect(meter('DeleteItemCommand', { Key: key })).toBe(1);
  });

  it('bills none of what a batch left unprocessed, until it is written', () => {
    const meter = feedIndexMeter();
    const input = batch(record('charges#a', 1), record('charges#b', 2));
    const left = { records: [{ PutRequest: { Item: record('charges#b', 2) } }] };
    expect(meter('BatchWriteItemCommand', input, left)).toBe(1);
    expect(meter('BatchWriteItemCommand', { RequestItems: left })).toBe(1);
    // Written once each: a rewrite at the same place is one entry's update, not a new one.
    expect(meter('BatchWriteItemCommand', batch(record('charges#b', 2)))).toBe(1);
  });
});
