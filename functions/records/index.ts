import { DynamoConnections } from '../../shared/adapters/dynamodb/connections.js';
import { DynamoRecordsFeed } from '../../shared/adapters/dynamodb/records-feed.js';
import { authConfig, baseConfig, parseConfig, recordsConfig } from '../../shared/config.js';
import { dynamo } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), recordsConfig(), authConfig()]);
const db = dynamo(config);

// The feed's read side and the connections alone: this function writes nothing, and what its
// bundle does not carry its cold start does not pay for.
export const handler = makeHandler({
  store: new DynamoConnections(db, config.SERVICE_TABLE_NAME),
  records: new DynamoRecordsFeed(db, config.RECORDS_TABLE_NAME),
  auth: config,
});
