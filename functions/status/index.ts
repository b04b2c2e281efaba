import { DynamoRecordCounts } from '../../shared/adapters/dynamodb/record-counts.js';
import { authConfig, baseConfig, parseConfig, recordsConfig } from '../../shared/config.js';
import { connectionStore, dynamo } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), recordsConfig(), authConfig()]);

const db = dynamo(config);

export const handler = makeHandler({
  store: connectionStore(config, db),
  records: new DynamoRecordCounts(db, config.RECORDS_TABLE_NAME),
  auth: config,
});
