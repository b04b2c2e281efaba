import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { authConfig, baseConfig, parseConfig, recordsConfig } from '../../shared/config.js';
import { connectionStore, dynamo } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), recordsConfig(), authConfig()]);
const db = dynamo(config);

export const handler = makeHandler({
  store: connectionStore(config, db),
  records: new DynamoRecordsStore(db, config.RECORDS_TABLE_NAME),
  auth: config,
});
