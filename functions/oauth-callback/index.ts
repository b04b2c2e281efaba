import {
  baseConfig,
  frontendConfig,
  parseConfig,
  stripeApiConfig,
  syncQueueConfig,
  tokenConfig,
} from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  connectionStore,
  secretsManager,
  sqsQueue,
  stripeTokenClient,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([
  baseConfig(),
  frontendConfig(),
  tokenConfig(),
  stripeApiConfig(),
  syncQueueConfig(),
]);
const secrets = secretsManager(config);

export const handler = makeHandler({
  store: connectionStore(config),
  vault: tokenVault(secrets, config.KMS_KEY_ID),
  tokens: stripeTokenClient(secrets, config),
  syncQueue: sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL),
  clock: systemClock,
  config,
});
