import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EmbeddedDynamo, startEmbeddedDynamo } from '../../local/embedded-dynamodb.js';
import { DynamoConnectionStore } from '../../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { ensureTables } from '../../shared/data/ensure-tables.js';
import { serviceTable } from '../../shared/data/tables.js';
import { connectionStoreContract } from '../support/connection-store-contract.js';

let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;

beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await ensureTables(client, [{ def: serviceTable, name: 'contract-service' }]);
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
});

connectionStoreContract(
  'DynamoConnectionStore on dynalite',
  () => new DynamoConnectionStore(documentClient(client), 'contract-service'),
);
