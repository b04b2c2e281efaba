import {
  authConfig,
  baseConfig,
  parseConfig,
  syncQueueConfig,
  syncRequestConfig,
} from '../../shared/config.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { systemClock } from '../../shared/ports/clock.js';
import { sqsQueue, syncRequestStore } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig(), syncQueueConfig(), syncRequestConfig()]);

export const handler = makeHandler({
  store: syncRequestStore(config),
  syncQueue: sqsQueue<SyncJob>(config, config.SYNC_QUEUE_URL),
  clock: systemClock,
  minIntervalMs: config.SYNC_MIN_INTERVAL_SECONDS * 1000,
  auth: config,
});
