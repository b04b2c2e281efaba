import { authConfig, baseConfig, eventsConfig, parseConfig, syncQueueConfig } from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { onFirstUse } from '../../shared/lazy.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  connectionStore,
  dynamo,
  eventPublisher,
  pendingInstallStore,
  secretsManager,
  sqsQueue,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig(), syncQueueConfig(), eventsConfig()]);
const db = dynamo(config);

export const handler = makeHandler({
  store: connectionStore(config, db),
  installs: pendingInstallStore(config, db),
  // Deletes a replaced connection's secret (no KMS key needed), which few confirms do: its
  // Secrets Manager client is made then, not at every cold start.
  vault: onFirstUse(() => tokenVault(secretsManager(config))),
  syncQueue: sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL),
  clock: systemClock,
  events: eventPublisher(config),
  auth: config,
});
