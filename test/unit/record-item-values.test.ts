import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { recordItemValues } from '../../shared/adapters/dynamodb/records-store.js';

// What a record's item holds: strings, numbers, booleans, null, its gzipped object, a list of ids.
const value = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.array(fc.string(), { maxLength: 5 }),
);

// Names as an item's attributes are named (the DocumentClient's marshall takes an own
// `constructor` property for a class instance's and refuses the item).
const attributeName = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,20}$/)
  .filter((name) => !['constructor', 'prototype'].includes(name));

describe('a record item as attribute values', () => {
  it('is what the DocumentClient would have sent for it', () => {
    fc.assert(
      fc.property(fc.dictionary(attributeName, value), (item) => {
        expect(recordItemValues(item)).toEqual(marshall(item, { removeUndefinedValues: true }));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves out what is undefined and keeps null, false, zero and the empty string', () => {
    expect(recordItemValues({ a: undefined, b: null, c: false, d: 0, e: '' })).toEqual({
      b: { NULL: true },
      c: { BOOL: false },
      d: { N: '0' },
      e: { S: '' },
    });
  });

  it('refuses a number DynamoDB cannot hold exactly, and a value no record item has', () => {
    expect(() => recordItemValues({ amount: Number.NaN })).toThrow('amount is NaN');
    expect(() => recordItemValues({ amount: Number.POSITIVE_INFINITY })).toThrow('amount');
    expect(() => recordItemValues({ amount: 2 ** 60 })).toThrow('not a number DynamoDB holds exactly');
    expect(() => recordItemValues({ when: new Date(0) })).toThrow('when is a object');
    expect(() => recordItemValues({ nested: { a: 1 } })).toThrow('nested');
  });
});
