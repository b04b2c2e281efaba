import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  UpdateTableCommand,
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
    const existing = await describe(client, name);
    if (existing) {
      // A table made by an earlier version (a laptop's DATA_DIR): add the indexes it lacks.
      const input = createTableInput(def, name);
      for (const index of input.GlobalSecondaryIndexes ?? []) {
        if (existing.GlobalSecondaryIndexes?.some((i) => i.IndexName === index.IndexName)) continue;
        await client.send(
          new UpdateTableCommand({
            TableName: name,
            AttributeDefinitions: input.AttributeDefinitions,
            GlobalSecondaryIndexUpdates: [{ Create: index }],
          }),
        );
        await untilActive(client, name);
      }
    } else {
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
    await untilActive(client, name);
  }
}

async function untilActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexesReady = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesReady) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function describe(client: DynamoDBClient, name: string) {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') {
      return undefined;
    }
    throw error;
  }
}
