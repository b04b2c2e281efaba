import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EmbeddedDynamo, startEmbeddedDynamo } from '../../local/embedded-dynamodb.js';
import { DynamoConnectionStore } from '../../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoEventLedger } from '../../shared/adapters/dynamodb/event-ledger.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { ensureTables } from '../../shared/data/ensure-tables.js';
import { recordsTable, serviceTable } from '../../shared/data/tables.js';
import { connectionStoreContract } from '../support/connection-store-contract.js';
import { eventLedgerContract, recordsStoreContract } from '../support/records-store-contract.js';

let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;

beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await ensureTables(client, [
    { def: serviceTable, name: 'contract-service' },
    { def: recordsTable, name: 'contract-records' },
  ]);
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
});

connectionStoreContract(
  'DynamoConnectionStore on dynalite',
  () => new DynamoConnectionStore(documentClient(client), 'contract-service'),
);
recordsStoreContract(
  'DynamoRecordsStore on dynalite',
  () => new DynamoRecordsStore(documentClient(client), 'contract-records'),
);
eventLedgerContract(
  'DynamoEventLedger on dynalite',
  (now) => new DynamoEventLedger(documentClient(client), 'contract-service', 5 * 60_000, now),
);
