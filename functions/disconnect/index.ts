import { authConfig, baseConfig, eventsConfig, parseConfig, syncQueueConfig } from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { onFirstUse } from '../../shared/lazy.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  connectionStore,
  eventPublisher,
  secretsManager,
  sqsQueue,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig(), syncQueueConfig(), eventsConfig()]);

export const handler = makeHandler({
  store: connectionStore(config),
  vault: tokenVault(secretsManager(config)),
  // Only `records=erase` queues a job: its SQS client is made then, not at every cold start.
  syncQueue: onFirstUse(() => sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL)),
  clock: systemClock,
  events: eventPublisher(config),
  auth: config,
});
