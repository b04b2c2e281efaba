import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { ensureTables } from '../../shared/data/ensure-tables.js';
import { recordsTable, serviceTable } from '../../shared/data/tables.js';
import { motoClientConfig } from '../support/moto.js';

describe('the table definitions against DynamoDB (moto)', () => {
  const client = new DynamoDBClient(motoClientConfig());
  const names = { service: `svc-${Date.now()}`, records: `rec-${Date.now()}` };
  afterAll(() => client.destroy());

  it('creates both tables with their keys, the sparse index and TTL', async () => {
    await ensureTables(client, [
      { def: serviceTable, name: names.service },
      { def: recordsTable, name: names.records },
    ]);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: names.service }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual(['gsi1', 'gsi2']);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: names.service }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'ttl', TimeToLiveStatus: 'ENABLED' });
  });

  it('is idempotent, and the status index holds only items that carry its key', async () => {
    await ensureTables(client, [{ def: serviceTable, name: names.service }]);
    await client.send(
      new PutItemCommand({
        TableName: names.service,
        Item: { pk: { S: 'ORG#a' }, sk: { S: 'C' }, gsi1pk: { S: 'CONNECTED' }, gsi1sk: { S: 'ORG#a' } },
      }),
    );
    await client.send(
      new PutItemCommand({ TableName: names.service, Item: { pk: { S: 'ORG#b' }, sk: { S: 'C' } } }),
    );
    const { Items } = await client.send(
      new QueryCommand({
        TableName: names.service,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': { S: 'CONNECTED' } },
      }),
    );
    expect(Items?.map((i) => i.pk?.S)).toEqual(['ORG#a']);
  });
});
