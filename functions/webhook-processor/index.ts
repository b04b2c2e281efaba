import { DynamoEventLedger } from '../../shared/adapters/dynamodb/event-ledger.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import {
  baseConfig,
  eventsConfig,
  parseConfig,
  recordsConfig,
  syncQueueConfig,
} from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  connectionStore,
  dynamo,
  eventPublisher,
  secretsManager,
  sqsQueue,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), recordsConfig(), syncQueueConfig(), eventsConfig()]);
const db = dynamo(config);

export const handler = makeHandler({
  store: connectionStore(config, db),
  vault: tokenVault(secretsManager(config)),
  records: new DynamoRecordsStore(db, config.RECORDS_TABLE_NAME),
  ledger: new DynamoEventLedger(db, config.SERVICE_TABLE_NAME),
  syncQueue: sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL),
  clock: systemClock,
  events: eventPublisher(config),
});
