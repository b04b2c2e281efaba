import { DynamoCheckpointStore } from '../../shared/adapters/dynamodb/checkpoint-store.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { DynamoRequestShares } from '../../shared/adapters/dynamodb/request-shares.js';
import {
  baseConfig,
  eventsConfig,
  parseConfig,
  recordsConfig,
  stripeApiConfig,
  syncConfig,
  syncQueueConfig,
  tokenConfig,
} from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  connectionStore,
  dynamo,
  eventPublisher,
  secretsManager,
  sqsQueue,
  stripeTokenClient,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { StripeAccess } from '../../shared/stripe/stripe-access.js';
import { DEFAULT_SYNC_CONFIG } from '../../shared/sync/sync-run.js';
import { makeHandler } from './handler.js';

const config = parseConfig([
  baseConfig(),
  recordsConfig(),
  tokenConfig(),
  stripeApiConfig(),
  syncQueueConfig(),
  syncConfig(),
  eventsConfig(),
]);
const db = dynamo(config);
const secrets = secretsManager(config);
const store = connectionStore(config, db);
const vault = tokenVault(secrets, config.KMS_KEY_ID);
const events = eventPublisher(config);

export const handler = makeHandler({
  store,
  vault,
  checkpoints: new DynamoCheckpointStore(db, config.SERVICE_TABLE_NAME),
  records: new DynamoRecordsStore(db, config.RECORDS_TABLE_NAME),
  requestShares: new DynamoRequestShares(db, config.SERVICE_TABLE_NAME),
  access: new StripeAccess({
    store,
    vault,
    tokens: stripeTokenClient(secrets, config),
    clock: systemClock,
    // Retries are the sync's own (budgeted, honouring Stripe-Should-Retry).
    client: { apiBase: config.STRIPE_API_BASE, timeoutMs: config.STRIPE_TIMEOUT_MS, maxNetworkRetries: 0 },
    events,
  }),
  syncQueue: sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL),
  events,
  clock: systemClock,
  config: {
    ...DEFAULT_SYNC_CONFIG,
    budgetLive: config.SYNC_BUDGET_LIVE,
    budgetTest: config.SYNC_BUDGET_TEST,
    maxSlices: config.SYNC_MAX_SLICES,
    fanOut: { ...DEFAULT_SYNC_CONFIG.fanOut, workers: config.SYNC_FANOUT_WORKERS },
  },
});
