import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { createTableInput, type TableDef } from './tables.js';

/**
 * Creates the tables that do not exist yet and waits until they are active.
 * For the local stack and tests only: in AWS the CDK stack owns the tables.
 */
export async function ensureTables(
  client: DynamoDBClient,
  entries: Array<{ def: TableDef; name: string }>,
): Promise<void> {
  for (const { def, name } of entries) {
    if (!(await exists(client, name))) {
      await client.send(new CreateTableCommand(createTableInput(def, name)));
      if (def.ttlAttribute) {
        await client
          .send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true },
            }),
          )
          .catch(() => undefined); // dynalite has no TTL API; expiry is checked in code anyway
      }
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
      if (Table?.TableStatus === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function exists(client: DynamoDBClient, name: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: name }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') {
      return false;
    }
    throw error;
  }
}
