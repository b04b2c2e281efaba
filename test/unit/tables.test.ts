import { createTableInput, recordsTable, serviceTable } from '../../shared/data/tables.js';

describe('table definitions', () => {
  it('builds the service table with its sparse status index and its due-work index', () => {
    const input = createTableInput(serviceTable, 'svc');
    expect(input.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(input.GlobalSecondaryIndexes?.[0]).toMatchObject({
      IndexName: 'gsi1',
      Projection: { ProjectionType: 'ALL' },
    });
    // Keys and the org only: status updates write nothing to it.
    expect(input.GlobalSecondaryIndexes?.[1]).toMatchObject({
      IndexName: 'gsi2',
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['orgId'] },
    });
    expect(input.AttributeDefinitions.map((a) => a.AttributeName).sort()).toEqual([
      'gsi1pk',
      'gsi1sk',
      'gsi2pk',
      'gsi2sk',
      'pk',
      'sk',
    ]);
    expect(serviceTable.ttlAttribute).toBe('ttl');
  });

  it('builds the records table with the change feed index alone, expiring only what carries a ttl (a full re-sync’s seen items)', () => {
    const input = createTableInput(recordsTable, 'rec');
    expect(input.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'feed',
        KeySchema: [
          { AttributeName: 'feedPk', KeyType: 'HASH' },
          { AttributeName: 'seq', KeyType: 'RANGE' },
        ],
        // The page is served from the index: every attribute of the record is there.
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(input.AttributeDefinitions).toContainEqual({ AttributeName: 'seq', AttributeType: 'N' });
    expect(recordsTable.ttlAttribute).toBe('ttl');
    expect(input.BillingMode).toBe('PAY_PER_REQUEST');
  });
});
